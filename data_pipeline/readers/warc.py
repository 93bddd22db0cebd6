"""WARC and WET reader (fastwarc, resiliparse's WARC library): `response` pages and `conversion` texts → records.

Every WARC record becomes one record, so nothing goes missing unseen: a `response` is decoded and extracted
(readers/webpage.py); a WET `conversion` record is already text. Other types (request, metadata, warcinfo,
revisit, resource) are rejected as `read:warc_<type>` — counted in stats.json, never extracted. Each record
keeps `meta.url` (WARC-Target-URI), `meta.fetch_time` (WARC-Date) and its WARC-Record-ID as `id`.

Faults: a record shorter than its Content-Length is `read:truncated_record`; a record after which no valid WARC
header follows (its length field lies, or the bytes are corrupt) is `read:corrupt_record`, and reading goes
on at the next record start found after it (`next_record_start`); a block-digest mismatch is
`read:digest_mismatch`; non-2xx HTTP status is `read:http_status`; a non-text content type is
`read:not_html`. fastwarc's own lenient mode is off: it skips bad bytes without saying so.

Streaming and sharding: records are read one at a time (memory does not grow with the file). A file over
`input.web.warc_shard_mb` is read as several shards: shard k of n covers the records that *start* in bytes
[k/n, (k+1)/n) of the file, each boundary snapped forward to the next record start, so the shards partition
the records exactly and each worker seeks straight to its part (a .warc.gz is one gzip member per record,
as the WARC standard recommends, so a member start is a record start).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Iterator

from fastwarc.stream_io import BrotliReader, ChunkedReader
from fastwarc.warc import ArchiveIterator, HeaderMap, WarcRecordType

from data_pipeline.errors import UnreadableShardError
from data_pipeline.readers.validate import READ_STAGE, ReaderOptions, to_record
from data_pipeline.readers.webpage import page_record
from data_pipeline.stage import REJECT_REASON, reject
from data_pipeline.text_validity import INVALID_TEXT
from data_pipeline.web.charset import charset_of_content_type

WARC_MAGIC = b"WARC/1."
GZIP_MAGIC = b"\x1f\x8b\x08"
SCAN_CHUNK = 1 << 20
TEXT_TYPES = ("text/html", "application/xhtml", "text/plain", "application/xml", "text/xml")


def is_warc_file(path: str) -> bool:
    """Whether `path` starts like a WARC (plain or gzip): the `input.format=auto` check for odd suffixes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            if head.startswith(GZIP_MAGIC[:2]):
                handle.seek(0)
                head = gzip.GzipFile(fileobj=handle).read(16)
    except (OSError, EOFError, zlib.error):
        return False
    return head.startswith(WARC_MAGIC)


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC[:2]


def _starts_record(path: str, offset: int) -> bool:
    """Whether a valid WARC record header (after gunzip for a gzip member) begins at `offset`."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            record = next(iter(ArchiveIterator(handle, parse_http=False)), None)
            return record is not None and record.stream_pos == offset and record.record_id is not None
    except (OSError, ValueError):
        return False


def next_record_start(path: str, offset: int, gz: bool) -> int | None:
    """The first offset >= `offset` where a record starts (None: no record after it). Candidates are the
    byte patterns a record start has (a gzip member header, or `WARC/1.` at a line start), each checked by
    parsing a header there, so bytes inside a page that merely look like one are passed over."""
    if offset == 0 and _starts_record(path, 0):
        return 0
    # A plain record starts after a line end: search for the newline too, from the byte before `offset`.
    magic, lead = (GZIP_MAGIC, 0) if gz else (b"\n" + WARC_MAGIC, 1)
    position = max(offset - lead, 0)
    with open(path, "rb") as handle:
        while True:
            handle.seek(position)
            chunk = handle.read(SCAN_CHUNK + len(magic))
            found = chunk.find(magic)
            while found != -1:
                candidate = position + found + lead
                if candidate >= offset and _starts_record(path, candidate):
                    return candidate
                found = chunk.find(magic, found + 1)
            if len(chunk) <= SCAN_CHUNK:
                return None
            position += SCAN_CHUNK


def shard_bounds(path: str, part: int, parts: int) -> tuple[int, int]:
    """Byte range [start, end) of the records that shard `part` of `parts` reads (see the module doc)."""
    size = os.path.getsize(path)
    if parts <= 1:
        return 0, size
    gz = _is_gzip(path)

    def snapped(k: int) -> int:
        if k <= 0:
            return 0
        if k >= parts:
            return size
        start = next_record_start(path, size * k // parts, gz)
        return size if start is None else start

    return snapped(part), snapped(part + 1)


def read_warc_records(path: str, options: ReaderOptions, part: int = 0, parts: int = 1) -> Iterator[dict]:
    """The records of shard `part` of `parts` of a WARC/WET file, bad ones rejected with the reason."""
    try:
        start, end = shard_bounds(path, part, parts)
        gz = _is_gzip(path)
    except OSError as err:
        raise UnreadableShardError(f"{path}: {err}") from None
    if os.path.getsize(path) == 0:
        yield reject({"id": path}, READ_STAGE, "empty_warc")
        return
    position: int | None = start
    while position is not None and position < end:
        resume = yield from _read_run(path, position, end, options)
        position = None if resume is None else next_record_start(path, resume, gz)


def _read_run(path: str, start: int, end: int, options: ReaderOptions):
    """Records from `start` until `end` or a parse failure. Each record is held back until the next header
    parses, since only then is its length known to be right. Returns None when done, else the offset after
    which to look for the next record."""
    pending: dict | None = None
    pending_verified = False  # its block digest matched: its bytes are right whatever follows them
    pending_start = start
    with open(path, "rb") as handle:
        handle.seek(start)
        records = iter(ArchiveIterator(handle, parse_http=False))
        while True:
            try:
                warc = next(records, None)
            except (OSError, ValueError) as err:
                failed_at = pending_start if pending is not None else start
                error = str(err)[:200]
                if pending is not None and pending_verified:
                    # Its bytes are right: what broke is after it, an unknown stretch counted as one record.
                    yield pending
                    yield reject({"id": f"{path}@>{failed_at}", "error": error}, READ_STAGE, "corrupt_record")
                elif pending is not None:  # the break outranks what the page step said of its bytes
                    pending.pop(REJECT_REASON, None)
                    yield reject(_without_text({**pending, "error": error}), READ_STAGE, "corrupt_record")
                else:
                    yield reject({"id": f"{path}@{start}", "error": error}, READ_STAGE, "corrupt_record")
                return failed_at + 1
            if pending is not None:
                yield pending
                pending = None
            if warc is None or warc.stream_pos >= end:  # stream_pos: the offset in the file
                return None
            pending_start = warc.stream_pos
            pending, pending_verified = _record_of(warc, f"{path}@{pending_start}", options)


def _without_text(record: dict) -> dict:
    record.pop("text", None)
    return record


def _meta(warc) -> dict:
    meta = {"url": warc.headers.get("WARC-Target-URI"), "fetch_time": warc.headers.get("WARC-Date")}
    return {key: value for key, value in meta.items() if value}


def _record_of(warc, fallback_id: str, options: ReaderOptions) -> tuple[dict, bool]:
    """The record for one WARC record, and whether its block digest was present and matched."""
    record_id = warc.record_id or fallback_id
    meta = _meta(warc)
    kind = warc.record_type
    if kind not in (WarcRecordType.response, WarcRecordType.conversion):
        return reject({"id": record_id, "meta": meta}, READ_STAGE, f"warc_{kind}"), False
    if warc.content_length > options.web.max_page_bytes + (64 << 10):
        return reject({"id": record_id, "meta": meta}, READ_STAGE, "page_too_large"), False
    block = warc.reader.read()
    if len(block) < warc.content_length:
        return reject({"id": record_id, "meta": meta}, READ_STAGE, "truncated_record"), False
    verified = _digest_ok(warc, block)
    if verified is False:
        return reject({"id": record_id, "meta": meta}, READ_STAGE, "digest_mismatch"), False
    return _content_record(kind, block, record_id, meta, options), bool(verified)


def _content_record(kind, block: bytes, record_id: str, meta: dict, options: ReaderOptions) -> dict:
    if kind == WarcRecordType.conversion:  # WET: text already extracted, UTF-8 by the format's definition
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            return reject({"id": record_id, "meta": meta}, READ_STAGE, INVALID_TEXT)
        return to_record({"id": record_id, "text": text, "meta": {**meta, "charset": "utf-8"}}, record_id, options)
    return _response_record(block, record_id, meta, options)


def _digest_ok(warc, block: bytes) -> bool | None:
    """True/False: the SHA-1 block digest matches or not; None: there is none (only SHA-1, what crawlers
    write, is checked)."""
    algorithm, _, expected = (warc.headers.get("WARC-Block-Digest") or "").partition(":")
    if algorithm.lower() != "sha1" or not expected:
        return None
    digest = hashlib.sha1(block).digest()
    return expected.strip().upper() in (base64.b32encode(digest).decode(), digest.hex().upper())


def _response_record(block: bytes, record_id: str, meta: dict, options: ReaderOptions) -> dict:
    headers = HeaderMap()
    try:
        header_length = headers.parse(io.BytesIO(block))
    except (OSError, ValueError):
        header_length = 0
    status = headers.status_code
    if status is None:
        return reject({"id": record_id, "meta": meta}, READ_STAGE, "bad_http_header")
    if not 200 <= status < 300:
        return reject({"id": record_id, "meta": {**meta, "http_status": status}}, READ_STAGE, "http_status")
    content_type = headers.get("Content-Type") or ""
    if content_type and not content_type.lower().lstrip().startswith(TEXT_TYPES):
        return reject({"id": record_id, "meta": {**meta, "content_type": content_type[:100]}}, READ_STAGE,
                      "not_html")
    try:
        body = _decoded_payload(block[header_length:], headers)
    except (OSError, ValueError, EOFError, zlib.error):
        return reject({"id": record_id, "meta": meta}, READ_STAGE, "bad_content_encoding")
    return page_record(body, record_id, meta, options, charset_of_content_type(content_type))


def _decoded_payload(payload: bytes, headers: HeaderMap) -> bytes:
    """The payload as the server meant it: chunked transfer and gzip/deflate/br content encoding undone."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        payload = ChunkedReader(io.BytesIO(payload)).read()
    encoding = (headers.get("Content-Encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(payload)
    if encoding == "deflate":
        try:
            return zlib.decompress(payload)
        except zlib.error:
            return zlib.decompress(payload, -zlib.MAX_WBITS)  # raw deflate, as some servers send
    if encoding == "br":
        return BrotliReader(io.BytesIO(payload)).read()
    if encoding in ("", "identity", "none"):
        return payload
    raise ValueError(f"content encoding {encoding}")
