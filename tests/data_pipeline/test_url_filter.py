"""The url stage: domain, substring and regex block lists from files (issue 23 item 5)."""

import gzip
import json

import pytest

from data_pipeline.errors import UserError
from data_pipeline.filters.url import UrlFilter, UrlFilterConfig, host_of
from data_pipeline.run import main
from data_pipeline.stage import ShardInfo

SHARD = ShardInfo(0, 1, "00000")


def write_list(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def verdicts(stage, urls):
    records = [{"id": str(i), "text": "x", "meta": {"url": url}} for i, url in enumerate(urls)]
    return [r.get("reject_reason") for r in stage.run(iter(records), SHARD)]


def test_a_domain_blocks_itself_and_its_subdomains_only(tmp_path):
    domains = write_list(tmp_path, "domains", ["# UT1-style list", "", "example.com", "CASINO.example.org.",
                                               "bücher.de", "10.0.0.7", "*.tracker.net"])
    stage = UrlFilter(UrlFilterConfig(block_domains=domains))
    blocked = ["http://example.com/", "https://www.example.com/a?b=c", "https://a.b.EXAMPLE.com:8443/x",
               "http://user:pw@example.com./", "https://casino.example.org/play", "http://xn--bcher-kva.de/",
               "https://www.bücher.de/", "http://10.0.0.7/admin", "https://ads.tracker.net/p.gif", "example.com/p"]
    kept = ["http://badexample.com/", "https://example.com.evil.org/", "https://example.org/", "http://10.0.0.70/",
            "https://notcasino.example.org.cn/", "https://github.com/example.com", "mailto:someone@example.com"]
    assert verdicts(stage, blocked) == ["url:block_domains"] * len(blocked)
    assert verdicts(stage, kept) == [None] * len(kept)


def test_substrings_and_regexes_from_files_and_the_matching_entry_is_recorded(tmp_path):
    substrings = write_list(tmp_path, "words", ["/porn/", "utm_source=spam"])
    regexes = write_list(tmp_path, "re", [r"(?i)/tag/\d+/page/\d+$", r"\.(?:exe|zip)$"])
    stage = UrlFilter(UrlFilterConfig(block_substrings=[substrings], block_regex=regexes))
    records = [{"id": "a", "text": "x", "meta": {"url": "https://site.cn/PORN/1.html"}},
               {"id": "b", "text": "x", "url": "https://blog.cn/Tag/12/page/3"},  # top-level url field
               {"id": "c", "text": "x", "meta": {"url": "https://dl.cn/setup.exe"}},
               {"id": "d", "text": "x", "meta": {"url": "https://news.cn/2024/article.html"}},
               {"id": "e", "text": "x"}, {"id": "f", "text": "x", "meta": {"url": 42}, "url": None}]
    out = list(stage.run(iter(records), SHARD))
    assert [r.get("reject_reason") for r in out] == ["url:block_substrings", "url:block_regex", "url:block_regex",
                                                    None, None, None]
    assert out[0]["meta"]["url_block"] == "/porn/" and out[2]["meta"]["url_block"] == r"\.(?:exe|zip)$"


def test_host_extraction_survives_hostile_urls():
    assert host_of("http://[::1]:80/") == "::1"
    assert host_of("http://[not-an-ip/") is None
    assert host_of("") is None and host_of("://") is None
    assert host_of("HTTP://WWW.Example.COM:99999/") == "www.example.com"


def test_missing_list_and_bad_regex_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="cannot be read"):
        UrlFilter(UrlFilterConfig(block_domains=str(tmp_path / "absent")))
    bad = write_list(tmp_path, "re", ["fine", "(unclosed"])
    with pytest.raises(UserError, match=r"re:2: '\(unclosed' is not a regex"):
        UrlFilter(UrlFilterConfig(block_regex=bad))


def test_pipeline_runs_the_url_stage_only_with_a_list(tmp_path, write_lines, clean_records):
    records = [{**r, "url": f"https://www.spam.example/{i}" if i == 0 else f"https://ok.example/{i}"}
               for i, r in enumerate(clean_records)]
    data = write_lines("a.jsonl", records)
    domains = write_list(tmp_path, "domains", ["spam.example"])
    out = tmp_path / "out"
    assert main([f"input.paths=[{data}]", f"output.dir={out}", "executor.workers=1", "executor.progress=false",
                 f"filters.url.block_domains={domains}"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert list(stats["stages"])[:2] == ["read", "url"]
    assert stats["stages"]["url"]["rules"] == {"block_domains": {"docs": 1, "chars": len(records[0]["text"])}}
    rejected = [json.loads(line) for p in (out / "rejected").glob("*.gz") for line in gzip.open(p, "rt")]
    assert [(r["id"], r["reject_reason"]) for r in rejected] == [(records[0]["id"], "url:block_domains")]
    plain = tmp_path / "plain"
    assert main([f"input.paths=[{data}]", f"output.dir={plain}", "executor.workers=1",
                 "executor.progress=false"]) == 0
    assert "url" not in json.loads((plain / "stats.json").read_text())["stages"]  # no list: no stage, no cost
