"""Hostile WARC and HTML files through the web readers: never a crash, every rejection with a reason, every
intact record read exactly once, and a WARC read in shards keeps exactly what one pass keeps."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from data_pipeline.readers.html import read_html_records
from data_pipeline.readers.validate import ReaderOptions
from data_pipeline.readers.warc import read_warc_records
from data_pipeline.stage import REJECT_REASON
from data_pipeline.web.extract import ExtractOptions
from data_pipeline.web.options import WebOptions
from tests.data_pipeline.web.warc_builder import warc_record, write_warc

OPTIONS = ReaderOptions(web=WebOptions(ExtractOptions("resiliparse"), max_page_bytes=20_000))
WORDS = ["river", "长江", "town", "北京", "the", "data", "página", "東京", "news", "report"]

page_text = st.lists(st.sampled_from(WORDS), min_size=3, max_size=40).map(" ".join)
# (kind, payload): intact records, and the ways a crawl file breaks
item = st.one_of(
    st.tuples(st.just("good"), page_text),
    st.tuples(st.just("request"), st.just("")),
    st.tuples(st.just("wet"), page_text),
    st.tuples(st.just("lying_length"), st.integers(-30, 30).filter(bool)),
    st.tuples(st.just("garbage"), st.binary(min_size=1, max_size=80)),
    st.tuples(st.just("binary"), st.binary(min_size=1, max_size=200)),
)


def build(items: list) -> tuple[list[bytes], list[str | None]]:
    """The records' bytes, and for each the id it must be read under (None: no promise)."""
    records, ids = [], []
    for number, (kind, payload) in enumerate(items):
        record_id = f"<urn:uuid:rec-{number}>"
        if kind == "good":
            data = warc_record(f"http://x/{number}", f"<html><body><p>{payload}</p></body></html>".encode(),
                               record_id=record_id)
        elif kind == "request":
            data = warc_record(f"http://x/{number}", b"", record_type="request", record_id=record_id, http=False)
        elif kind == "wet":
            data = warc_record(f"http://x/{number}", payload.encode(), record_type="conversion", http=False,
                               record_id=record_id)
        elif kind == "lying_length":
            data = warc_record(f"http://x/{number}", b"<p>a lie</p>", length_delta=payload, digest=False,
                               record_id=record_id)
        elif kind == "garbage":
            data = payload.replace(b"WARC/", b"WARX/")
        else:
            data = warc_record(f"http://x/{number}", payload, content_type="text/html", record_id=record_id)
        records.append(data)
        ids.append(record_id if kind in ("good", "request", "wet", "binary") else None)
    # A record next to a broken one may be taken with it (its bytes are where the break is): no promise.
    broken = [i for i, (kind, _) in enumerate(items) if kind in ("lying_length", "garbage")]
    promised = [None if any(abs(i - b) <= 1 for b in broken) else record_id for i, record_id in enumerate(ids)]
    return records, promised


def check(records: list[dict], promised: list[str | None], broken: bool) -> None:
    ids = Counter(r["id"] for r in records)
    for record_id in promised:
        if record_id is not None:
            assert ids[record_id] == 1, (record_id, ids)
    assert all(count == 1 for count in ids.values()), ids
    assert not broken or any(r.get(REJECT_REASON) in ("read:corrupt_record", "read:truncated_record")
                             for r in records)
    for record in records:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
        if REJECT_REASON in record:
            assert record[REJECT_REASON].startswith("read:")
        else:
            assert record["text"].strip() and record["meta"]["url"].startswith("http://x/")


@given(st.lists(item, max_size=8), st.booleans(), st.integers(1, 4))
def test_warc_reader_reads_every_intact_record_once_whole_and_in_shards(items, gz, parts):
    records, promised = build(items)
    # Must show as a rejection: a length that cuts the block or reaches past the blank line after it (1-4 bytes
    # too long only swallow that line: the record's bytes are all there), or garbage that is not whitespace.
    # Two breaks can hide each other (a length 5 too long that swallows a garbage byte), so the promise is
    # made for files with one break.
    breaks = [kind == "lying_length" and not 1 <= payload <= 4 or kind == "garbage" and bool(payload.strip())
              for kind, payload in items]
    broken = sum(breaks) == 1 and sum(kind in ("lying_length", "garbage") for kind, _ in items) == 1
    with tempfile.TemporaryDirectory() as tmp:
        path = str(write_warc(Path(tmp) / "f.warc", records, gz))
        whole = list(read_warc_records(path, OPTIONS))
        check(whole, promised, broken)
        split = [r for part in range(parts) for r in read_warc_records(path, OPTIONS, part, parts)]
        kept = [r["id"] for r in whole if REJECT_REASON not in r]
        assert [r["id"] for r in split if REJECT_REASON not in r] == kept


@given(st.binary(max_size=2000), st.booleans())
def test_html_files_never_crash_and_give_one_record(data, gz):
    import gzip

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("page.html.gz" if gz else "page.html")
        path.write_bytes(gzip.compress(data)[: max(10, len(data))] if gz else data)
        [record] = read_html_records(str(path), OPTIONS)
        json.dumps(record, ensure_ascii=False).encode("utf-8")
        assert record["id"] == "page" and (REJECT_REASON in record or record["text"].strip())
