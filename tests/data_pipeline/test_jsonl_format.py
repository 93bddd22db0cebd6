import gzip

import pytest

from data_pipeline.formats.jsonl import JsonlWriter, read_jsonl, write_jsonl

RECORDS = [{"id": "1", "text": "中文 text", "meta": {"lang": "zh"}}, {"id": "2", "text": "second"}]


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst"])
def test_roundtrip_each_compression(tmp_path, name):
    path = tmp_path / name
    assert write_jsonl(path, RECORDS) == 2
    assert list(read_jsonl(path)) == RECORDS
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left behind


def test_gzip_output_is_byte_identical_across_writes(tmp_path):
    write_jsonl(tmp_path / "a.jsonl.gz", RECORDS)
    write_jsonl(tmp_path / "b.jsonl.gz", RECORDS)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()).count(b"\n") == 2


def test_failed_write_leaves_no_file(tmp_path):
    def records():
        yield RECORDS[0]
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(tmp_path / "out.jsonl.gz", records())
    assert list(tmp_path.iterdir()) == []


def test_lazy_writer_creates_nothing_when_empty(tmp_path):
    with JsonlWriter(tmp_path / "rejected.jsonl.gz", lazy=True) as writer:
        assert writer.commit() == 0
    assert list(tmp_path.iterdir()) == []


def test_strict_reader_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\n{not json}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        list(read_jsonl(path))
