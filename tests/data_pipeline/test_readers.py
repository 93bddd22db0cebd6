"""Every bad-input case becomes a counted rejection with a reason; missing paths are a UserError."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_pipeline.errors import UnreadableShardError, UserError
from data_pipeline.formats.jsonl import write_jsonl
from data_pipeline.readers import InputConfig, ReaderOptions, discover_sources, read_input_records
from data_pipeline.readers.jsonl import read_jsonl_records
from data_pipeline.readers.text import read_text_records


def reasons(records):
    return [r.get("reject_reason") for r in records]


def test_each_bad_line_is_rejected_with_its_reason(write_lines):
    path = write_lines("bad.jsonl", [
        {"id": "ok", "text": "fine"},
        "{this is not json",
        b"\xff\xfe invalid utf-8 \xc3\x28",
        b'{"id": "nul", "text": "a\x00b"}',
        {"id": "no-text", "title": "x"},
        {"id": "int-text", "text": 42},
        {"id": "empty", "text": "   "},
        {"id": "long", "text": "x" * 101},
        "[1, 2, 3]",
        "",
        {"text": "no id here"},
    ])
    records = list(read_jsonl_records(str(path), ReaderOptions(max_chars=100)))
    assert reasons(records) == [
        None, "read:invalid_json", "read:invalid_text", "read:nul_bytes", "read:missing_text",
        "read:text_not_string", "read:empty_text", "read:too_long", "read:not_an_object", None,
    ]
    assert records[0] == {"id": "ok", "text": "fine"}
    assert records[1]["id"] == f"{path}:2" and records[1]["raw"] == "{this is not json\n"
    assert records[-1]["id"] == f"{path}:11"  # generated id: source file + line, blank line 10 skipped



def test_lone_surrogates_anywhere_are_invalid_text_and_the_audit_copy_is_writable(write_lines, tmp_path):
    path = write_lines("surrogates.jsonl", [
        r'{"id": "in-text", "text": "hello \ud800 world"}',
        r'{"id": "in-id-\udfff", "text": "fine"}',
        r'{"id": "in-meta", "text": "fine", "meta": {"\ud83d": ["\ude00"]}}',
        r'{"id": "pair", "text": "\ud83d\ude00 is one emoji"}',  # an escaped surrogate pair is valid
        r'{"id": "escaped-backslash", "text": "\\ud800 is just text"}',
    ])
    records = list(read_jsonl_records(str(path), ReaderOptions()))
    assert reasons(records) == ["read:invalid_text"] * 3 + [None, None]
    assert records[0]["text"] == "hello \ufffd world"  # kept for the audit, lone surrogate replaced
    assert records[1]["id"] == "in-id-\ufffd"
    assert records[2]["meta"] == {"\ufffd": ["\ufffd"]}
    assert records[3]["text"] == "\U0001F600 is one emoji"
    assert records[4]["text"] == "\\ud800 is just text"
    assert write_jsonl(tmp_path / "rejected.jsonl.gz", records) == 5  # every one can be written


def test_bom_crlf_huge_integers_and_deep_nesting_do_not_stop_the_shard(write_lines):
    path = write_lines("odd.jsonl", [
        b'\xef\xbb\xbf{"id": "bom", "text": "first line of a file saved with a BOM"}\r',
        '{"id": "big", "text": "x", "n": ' + "9" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
        {"id": "last", "text": "still read"},
    ])
    records = list(read_jsonl_records(str(path), ReaderOptions()))
    assert [(r["id"], r.get("reject_reason")) for r in records] == [
        ("bom", None), (f"{path}:2", "read:invalid_json"), (f"{path}:3", "read:invalid_json"), ("last", None)]


def test_truncated_gzip_keeps_complete_lines_and_records_the_break(tmp_path):
    lines = b"".join(json.dumps({"id": i, "text": f"line {i}"}).encode() + b"\n" for i in range(3000))
    data = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    records = list(read_jsonl_records(str(path), ReaderOptions()))
    assert records[-1]["reject_reason"] == "read:truncated_file"
    good = records[:-1]
    assert 0 < len(good) < 3000
    assert [r["id"] for r in good] == [str(i) for i in range(len(good))]


def test_not_a_gzip_file_is_unreadable(tmp_path):
    path = tmp_path / "fake.jsonl.gz"
    path.write_bytes(b"plain text, not gzip")
    with pytest.raises(UnreadableShardError):
        list(read_jsonl_records(str(path), ReaderOptions()))


def test_custom_fields_and_reject_reason_of_an_earlier_run(write_lines):
    path = write_lines("c.jsonl", [{"doc_id": 7, "content": "hello", "text": "old", "reject_reason": "x:y"}])
    [record] = read_jsonl_records(str(path), ReaderOptions(text_field="content", id_field="doc_id"))
    assert record == {"id": "7", "text": "hello", "text_original_field": "old", "previous_reject_reason": "x:y"}


def test_parquet_rows(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["one", None], "score": [1, 2]}), path)
    records = list(discover_sources(InputConfig(paths=[str(path)]))[0].read())
    assert records[0] == {"id": "a", "text": "one", "score": 1}
    assert records[1]["reject_reason"] == "read:missing_text"


def test_text_file_and_paragraph_modes(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("First paragraph.\nstill first.\n\n\nSecond one.\n", encoding="utf-8")
    [whole] = read_text_records(str(path), ReaderOptions(), "file")
    assert whole["id"] == str(path) and whole["text"].startswith("First")
    paragraphs = list(read_text_records(str(path), ReaderOptions(), "paragraph"))
    assert [p["text"] for p in paragraphs] == ["First paragraph.\nstill first.", "Second one."]
    assert [p["id"] for p in paragraphs] == [f"{path}:#0", f"{path}:#1"]


def test_hf_load_from_disk_and_load_dataset_by_name(tmp_path, write_lines):
    datasets = pytest.importorskip("datasets")
    rows = [{"id": f"r{i}", "text": f"document {i}"} for i in range(10)]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    sources = discover_sources(InputConfig(paths=[str(tmp_path / "saved")], hf_shards=3))
    assert [s.format for s in sources] == ["hf_disk"] * 3
    assert [r["id"] for s in sources for r in s.read()] == [f"r{i}" for i in range(10)]
    # load_dataset by name: a local folder of jsonl files is a dataset name datasets resolves offline
    folder = tmp_path / "hub_like"
    folder.mkdir()
    write_lines("hub_like/train.jsonl", rows)
    sources = discover_sources(InputConfig(hf_name=str(folder), hf_shards=2))
    assert [r["text"] for s in sources for r in s.read()] == [r["text"] for r in rows]


def test_missing_path_and_empty_glob_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        discover_sources(InputConfig(paths=[str(tmp_path / "nope.jsonl")]))
    with pytest.raises(UserError, match="matches no file"):
        discover_sources(InputConfig(paths=[str(tmp_path / "*.jsonl")]))
    with pytest.raises(UserError, match="no input"):
        discover_sources(InputConfig())


def test_folder_expands_to_its_data_files_in_order(tmp_path, write_lines):
    write_lines("b.jsonl", [{"text": "b"}])
    write_lines("a.jsonl", [{"text": "a"}])
    (tmp_path / "notes.md").write_text("ignored")
    sources = discover_sources(InputConfig(paths=[str(tmp_path)]))
    assert [s.location.rsplit("/", 1)[1] for s in sources] == ["a.jsonl", "b.jsonl"]
    assert [s.info.name for s in sources] == ["00000", "00001"]


def test_tools_skip_an_unreadable_file_and_read_the_rest(tmp_path, write_lines):
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"this is not gzip at all")
    good = write_lines("good.jsonl", [{"id": "g", "text": "fine"}])
    skipped: list[str] = []
    records = list(read_input_records([str(broken), str(good)], skipped.append))
    assert [r["id"] for r in records] == ["g"]
    assert len(skipped) == 1 and str(broken) in skipped[0]


def test_zstd_input_is_read_line_by_line_and_an_empty_compressed_file_is_empty(tmp_path):
    import zstandard

    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b'{"id": "z1", "text": "one"}\n{"id": "z2", "text": "two"}\n'))
    assert [r["id"] for r in read_jsonl_records(str(path), ReaderOptions())] == ["z1", "z2"]  # was unreadable
    for name in ("empty.jsonl.zst", "empty.jsonl.gz"):
        (tmp_path / name).write_bytes(b"")
        assert list(read_jsonl_records(str(tmp_path / name), ReaderOptions())) == []
