"""WARC/WET reader on real pages: metadata, record types counted, faults rejected with a reason, the rest
still read, and a big WARC split into shards that partition its records exactly."""

from __future__ import annotations

import gzip
import shutil
from collections import Counter

import pytest

from data_pipeline.readers import InputConfig, ReaderOptions, discover_sources
from data_pipeline.readers.warc import read_warc_records, shard_bounds
from data_pipeline.stage import REJECT_REASON
from data_pipeline.web.extract import ExtractOptions
from data_pipeline.web.options import WebOptions
from tests.data_pipeline.web.warc_builder import real_pages, warc_record, write_warc


def reasons(records: list[dict]) -> list[str | None]:
    return [r.get(REJECT_REASON) for r in records]


def real_warc_records(digest: bool = True) -> list[bytes]:
    return [warc_record(url, html, digest=digest) for html, url, _ in real_pages()]


@pytest.mark.parametrize("gz", [False, True])
def test_response_records_become_documents_with_url_time_id_and_charset(tmp_path, gz):
    pages = real_pages()
    records = [warc_record("http://x/req", b"", record_type="request", http=False), *real_warc_records(),
               warc_record("http://x/meta", b"fetchTimeMs: 12", record_type="metadata", http=False)]
    path = write_warc(tmp_path / ("a.warc.gz" if gz else "a.warc"), records, gz)
    out = list(read_warc_records(str(path), ReaderOptions()))
    assert reasons(out) == ["read:warc_request", None, None, "read:warc_metadata"]
    for record, (_, url, article) in zip(out[1:3], pages, strict=True):
        assert record["id"].startswith("<urn:uuid:")
        assert record["meta"]["url"] == url and record["meta"]["fetch_time"] == "2024-05-01T08:00:00Z"
        assert record["meta"]["charset"] == "utf-8"
        assert "\n" in record["text"]  # paragraphs stay separate lines
        first_sentence = article.split("\n")[0][:60]
        assert first_sentence in record["text"]


def test_wet_conversion_records_are_read_as_text(tmp_path):
    text = "第一段：长江是中国最长的河流。\n第二段：它流经十一个省级行政区。"
    path = write_warc(tmp_path / "a.warc.wet.gz", [warc_record("http://x/zh", text.encode(), record_type="conversion",
                                                               http=False)], gz=True)
    [source] = discover_sources(InputConfig(paths=[str(path)]))
    [record] = list(source.read())
    assert record["text"] == text and record["meta"]["url"] == "http://x/zh"


def test_format_auto_knows_a_warc_by_its_first_bytes(tmp_path):
    path = write_warc(tmp_path / "crawl-00001", real_warc_records()[:1], gz=True)
    [source] = discover_sources(InputConfig(paths=[str(path)]))
    assert source.format == "warc" and len(list(source.read())) == 1


def _good(i: int) -> bytes:
    html, url, _ = real_pages()[i % 2]
    return warc_record(f"{url}?{i}", html, digest=False)


@pytest.mark.parametrize("case, records, expected", [
    ("length too short", lambda: [_good(0), warc_record("http://x/lie", real_pages()[0][0], length_delta=-7,
                                                         digest=False), _good(2)],
     [None, "read:corrupt_record", None]),
    ("length too long", lambda: [_good(0), warc_record("http://x/lie", real_pages()[0][0], length_delta=+9,
                                                        digest=False), _good(2)],
     [None, "read:corrupt_record", None]),
    ("garbage between records", lambda: [_good(0), b"\x00\xffnot a warc record\r\n" * 3, _good(2)],
     ["read:corrupt_record", None]),
    ("digest mismatch", lambda: [warc_record("http://x/d", b"<p>x</p>")[:-9] + b"Y</p>\r\n\r\n", _good(1)],
     ["read:digest_mismatch", None]),
    ("binary response", lambda: [warc_record("http://x/png", b"\x89PNG\r\n\x1a\n\x00\x00", content_type="image/png")],
     ["read:not_html"]),
    ("binary body served as html", lambda: [warc_record("http://x/bin", b"<html>\x00\x01\x02" * 50)],
     ["read:binary_content"]),
    ("http error", lambda: [warc_record("http://x/404", b"<p>gone</p>", status="404 Not Found")], ["read:http_status"]),
    ("html cut mid-tag", lambda: [warc_record("http://x/b", real_pages()[0][0][:45000] + b"<div cla")], [None]),
    ("script only", lambda: [warc_record("http://x/n", b"<html><head><script>var x = 1;</script></head>"
                                                       b"<body><style>p {}</style></body></html>")],
     ["read:no_main_text"]),
    ("truncated file", lambda: [_good(0), _good(1)[:-400]], [None, "read:truncated_record"]),
])
def test_bad_records_are_counted_rejections_and_the_rest_is_read(tmp_path, case, records, expected):
    path = write_warc(tmp_path / "bad.warc", records())
    assert reasons(list(read_warc_records(str(path), ReaderOptions()))) == expected, case


def test_a_corrupt_gzip_member_costs_only_its_record(tmp_path):
    members = [gzip.compress(r, mtime=0) for r in real_warc_records()]
    members.insert(1, members[0][:40] + b"\x00" * 60 + members[0][100:])
    (tmp_path / "c.warc.gz").write_bytes(b"".join(members))
    out = reasons(list(read_warc_records(str(tmp_path / "c.warc.gz"), ReaderOptions())))
    assert out == [None, "read:corrupt_record", None]  # the first is digest-verified: kept


def test_a_huge_page_is_rejected_unparsed_and_an_empty_warc_is_counted(tmp_path):
    small = ReaderOptions(web=WebOptions(ExtractOptions(), max_page_bytes=1000))
    path = write_warc(tmp_path / "big.warc", [warc_record("http://x/big", b"<p>" + b"a " * 100_000 + b"</p>")])
    assert reasons(list(read_warc_records(str(path), small))) == ["read:page_too_large"]
    (tmp_path / "empty.warc").write_bytes(b"")
    assert reasons(list(read_warc_records(str(tmp_path / "empty.warc"), ReaderOptions()))) == ["read:empty_warc"]


@pytest.mark.parametrize("gz", [False, True])
def test_shards_partition_the_records_exactly(tmp_path, gz):
    records = [_good(i) for i in range(12)]
    path = write_warc(tmp_path / ("s.warc.gz" if gz else "s.warc"), records, gz)
    whole = [r["id"] for r in read_warc_records(str(path), ReaderOptions())]
    for parts in (2, 3, 5):
        bounds = [shard_bounds(str(path), part, parts) for part in range(parts)]
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
        split = [r["id"] for part in range(parts) for r in read_warc_records(str(path), ReaderOptions(), part, parts)]
        assert split == whole and len(whole) == 12, parts


def test_discovery_splits_a_big_warc_into_shards(tmp_path):
    path = write_warc(tmp_path / "s.warc", [_good(i) for i in range(8)])
    cfg = InputConfig(paths=[str(path)])
    cfg.web.warc_shard_mb = 1
    shutil.copy(path, tmp_path / "t.warc")
    assert len(discover_sources(cfg)) == 1
    big = tmp_path / "big.warc"
    big.write_bytes(path.read_bytes() * 4)  # 32 records of real pages, 2.2 MB
    sources = discover_sources(InputConfig(paths=[str(big)], web=cfg.web))
    parts = -(-big.stat().st_size // (1 << 20))
    assert parts >= 2 and len(sources) == parts and {s.parts for s in sources} == {parts}
    counts = Counter(r["id"] for s in sources for r in s.read())
    assert sum(counts.values()) == 32 and set(counts.values()) == {4}  # each record once (ids repeat 4x)


@pytest.mark.parametrize("key, value", [("extractor", "bs4"), ("favor", "speed"), ("max_page_bytes", 0)])
def test_a_wrong_web_setting_is_a_user_error_naming_the_key(tmp_path, key, value):
    from data_pipeline.errors import UserError

    path = write_warc(tmp_path / "a.warc", real_warc_records()[:1])
    cfg = InputConfig(paths=[str(path)])
    setattr(cfg.web, key, value)
    with pytest.raises(UserError, match=f"input.web.{key}"):
        discover_sources(cfg)
