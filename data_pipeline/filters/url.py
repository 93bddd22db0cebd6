"""URL block lists: reject a document by its page's domain, a URL substring or a URL regex, each read from files.

    filters.url.block_domains=/lists/ut1/adult/domains   (a file or a list of files; one entry a line)

Where the URL comes from: `meta.url` (the web readers set it from WARC-Target-URI), else a top-level `url` field;
a record without one passes (a jsonl corpus has no URLs). A domain entry blocks that host and every subdomain
(`example.com` blocks `www.example.com`, not `badexample.com`); hosts are compared lower-case, IDNA-encoded
(punycode, as the lists write them), without a trailing dot, and IP addresses exactly. Substrings compare with
the lower-cased URL; regexes are Python `re` patterns searched in the URL as it is (add `(?i)` to ignore case).
Lines starting with `#` and blank lines are skipped. The rejected record says which list matched
(`url:block_domains`, `url:block_substrings`, `url:block_regex`) and `meta.url_block` the entry.
No list is downloaded: docs/pipeline.md says where the common ones come from.
Lists are read once per process (a worker rereads the files instead of receiving millions of entries pickled).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from data_pipeline.errors import UserError
from data_pipeline.stage import ShardInfo, Stage, meta_of, reject
from plumbing.input_files import input_entries

LISTS = ("block_domains", "block_substrings", "block_regex")
_SCHEME_WITHOUT_HOST = re.compile(r"[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)  # "host:8080/" is a port


@dataclass
class UrlFilterConfig:
    block_domains: Any = field(default_factory=list)  # file(s) of domains; each also blocks its subdomains
    block_substrings: Any = field(default_factory=list)  # file(s) of substrings of the lower-cased URL
    block_regex: Any = field(default_factory=list)  # file(s) of Python regexes searched in the URL

    def files(self, name: str) -> tuple[str, ...]:
        return tuple(input_entries(getattr(self, name)))

    def any_list(self) -> bool:
        return any(self.files(name) for name in LISTS)


def url_of(record: dict) -> str | None:
    meta = record.get("meta")
    url = meta.get("url") if isinstance(meta, dict) else None
    if not isinstance(url, str) or not url:
        url = record.get("url")
    return url if isinstance(url, str) and url else None


def normalize_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("*."):
        host = host[2:]
    host = host.lstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # not a valid IDNA name: compared as written
        return host


def host_of(url: str) -> str | None:
    """The URL's host, normalized; None when it has none (or the URL does not parse)."""
    if "//" not in url:
        if _SCHEME_WITHOUT_HOST.match(url):
            return None  # mailto:, javascript:, data: ... name no host
        url = "//" + url  # "example.com/page": lists and some crawls leave the scheme out
    try:
        host = urlsplit(url).hostname
    except ValueError:  # an invalid bracketed IPv6 host, a bad port...
        return None
    return normalize_host(host) if host else None


def _entries(path: str) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if line and not line.startswith("#"):
                    yield number, line
    except OSError as error:
        raise UserError(f"filters.url list {path} cannot be read ({error.strerror or error})",
                        "check the path (one entry a line)") from error


@lru_cache(maxsize=8)
def load_lists(domains: tuple[str, ...], substrings: tuple[str, ...],
               regexes: tuple[str, ...]) -> tuple[frozenset, tuple[str, ...], tuple[re.Pattern, ...]]:
    blocked_domains = frozenset(normalize_host(entry) for path in domains for _, entry in _entries(path))
    blocked_substrings = tuple(dict.fromkeys(entry.lower() for path in substrings for _, entry in _entries(path)))
    patterns = []
    for path in regexes:
        for number, entry in _entries(path):
            try:
                patterns.append(re.compile(entry))
            except re.error as error:
                raise UserError(f"filters.url.block_regex {path}:{number}: {entry!r} is not a regex ({error})",
                                "fix or remove that line") from error
    return blocked_domains - {""}, blocked_substrings, tuple(patterns)


def blocked_by(url: str, lists: tuple[frozenset, tuple[str, ...], tuple[re.Pattern, ...]]) -> tuple[str, str] | None:
    """(list name, matching entry) of the first list that blocks `url`, or None."""
    domains, substrings, patterns = lists
    host = host_of(url) if domains else None
    if host:
        labels = host.split(".")
        for start in range(len(labels)):  # the host itself, then each parent domain
            candidate = ".".join(labels[start:])
            if candidate in domains:
                return "block_domains", candidate
    if substrings:
        lowered = url.lower()
        for entry in substrings:
            if entry in lowered:
                return "block_substrings", entry
    for pattern in patterns:
        if pattern.search(url):
            return "block_regex", pattern.pattern
    return None


class UrlFilter(Stage):
    name = "url"

    def __init__(self, cfg: UrlFilterConfig):
        self.files = tuple(cfg.files(name) for name in LISTS)
        load_lists(*self.files)  # a missing file or a bad regex is a UserError now, before any shard runs

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        lists = load_lists(*self.files)
        for record in records:
            url = url_of(record)
            match = blocked_by(url, lists) if url else None
            if match:
                meta_of(record)["url_block"] = match[1]
                reject(record, self.name, match[0])
            yield record
