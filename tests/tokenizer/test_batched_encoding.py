"""The batched fast path (numpy ids, one concatenate per batch) writes exactly what per-document encoding gives."""

from __future__ import annotations

import codecs
import dataclasses
import filecmp
import json

import numpy as np
import pytest
import sentencepiece as spm

from data_pipeline.formats.token_shards import TokenShardWriter, read_manifest
from data_pipeline.tokenize import TokenizeConfig, tokenize
from data_pipeline.tokenizer import shard_writing
from data_pipeline.tokenizer.input_records import RecordFieldsConfig, parse_json_line, read_documents


def _shard_files(root):
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.suffix in (".bin", ".idx") or p.name == "manifest.json"
    )


def test_shards_equal_one_encode_call_per_document(corpus_shards, corpus_dir, trained_tokenizer):
    processor = spm.SentencePieceProcessor(model_file=str(trained_tokenizer / "tokenizer.model"))
    eos = processor.eos_id()
    for path in sorted(corpus_dir.glob("*.jsonl")):
        texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8") if line.strip()]
        per_document = [processor.encode(text) + [eos] for text in texts]  # plain str in, list of ints out
        shard = corpus_shards / path.stem / path.stem
        expected_bin = np.array([i for ids in per_document for i in ids], dtype="<u2").tobytes()
        expected_idx = np.cumsum([0] + [len(ids) for ids in per_document], dtype="<i8").tobytes()
        assert shard.with_suffix(".bin").read_bytes() == expected_bin
        assert shard.with_suffix(".idx").read_bytes() == expected_idx
        entry = read_manifest(corpus_shards / path.stem).shards[0]
        assert (entry.documents, entry.tokens) == (len(texts), len(expected_bin) // 2)


def test_list_fallback_and_small_batches_write_byte_identical_shards(
    corpus_shards, corpus_dir, trained_tokenizer, tmp_path, monkeypatch
):
    monkeypatch.setattr(shard_writing, "numpy_encoding_supported", lambda processor: False)
    config = TokenizeConfig(  # lists, and batches of 7 documents: neither may change a byte
        input=str(corpus_dir),
        tokenizer=str(trained_tokenizer),
        output=str(tmp_path),
        num_workers=1,
        encode_batch_size=7,
    )
    tokenize(config)
    files = _shard_files(corpus_shards)
    assert files == _shard_files(tmp_path) and len(files) == 12
    _, mismatch, errors = filecmp.cmpfiles(corpus_shards, tmp_path, files, shallow=False)
    assert mismatch == [] and errors == []


def test_numpy_support_is_probed_not_assumed():
    class ListOnlyProcessor:  # sentencepiece releases without `return_type`
        def encode(self, texts, num_threads=1, out_type=int):
            return [[5] for _ in texts]

    assert shard_writing.numpy_encoding_supported(ListOnlyProcessor()) is False


def test_writer_gives_the_same_bytes_for_arrays_and_lists(tmp_path):
    docs = [[7, 300, 12], [], [65_000, 3]]
    arrays = [np.asarray(d, dtype=np.int32) for d in docs]
    written = {}
    for name, batch in (("lists", docs), ("arrays", arrays), ("mixed", [arrays[0], docs[1], arrays[2]])):
        with TokenShardWriter(tmp_path, name, vocab_size=65_536, eos_id=2) as writer:
            writer.add_documents(batch, sources=["a", "b", "a"], languages=["zh", "en", "zh"])
        written[name] = ((tmp_path / f"{name}.bin").read_bytes(), (tmp_path / f"{name}.idx").read_bytes())
        assert (writer.entry.tokens, writer.entry.documents) == (8, 3)
        assert {k: (c.documents, c.tokens) for k, c in writer.entry.sources.items()} == {
            "a": (2, 7),
            "b": (1, 1),
        }
    assert written["lists"] == written["arrays"] == written["mixed"]
    assert writer.entry.to_json() == dataclasses.asdict(writer.entry)  # the spelled-out form loses nothing
    assert np.frombuffer(written["arrays"][0], "<u2").tolist() == [7, 300, 12, 2, 2, 65_000, 3, 2]
    assert np.frombuffer(written["arrays"][1], "<i8").tolist() == [0, 4, 5, 8]


def test_writer_refuses_non_integer_ids(tmp_path):
    with pytest.raises(ValueError, match="must be integers"):
        with TokenShardWriter(tmp_path, "floats", vocab_size=100, eos_id=2) as writer:
            writer.add_documents([np.array([1.5, 3.0])], sources=["s"], languages=["en"])
    assert list(tmp_path.iterdir()) == []


def test_lone_surrogate_is_a_counted_rejection_and_bom_line_is_read(trained_tokenizer, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    lines = [
        json.dumps({"text": "first document"}),
        json.dumps({"text": "bad \ud800 text"}),
        json.dumps({"text": "last"}),
    ]
    (inputs / "f.jsonl").write_bytes(codecs.BOM_UTF8 + "\n".join(lines).encode() + b"\n")
    summary = tokenize(
        TokenizeConfig(
            input=str(inputs), tokenizer=str(trained_tokenizer), output=str(tmp_path / "out"), num_workers=1
        )
    )
    assert summary["documents"] == 2
    assert summary["rejected_records"] == {"invalid_text": 1}


@pytest.mark.parametrize(
    "line",
    [
        '{"text": "a"}\n',
        ' {"text": "a"}\n',
        '{"text": "a"}\r\n',
        '{"text": "a"} x\n',
        '{"text": "a"}\u3000\n',  # not JSON whitespace: json.loads refuses it, so must we
        '{"a": 1}{"b": 2}\n',
        '{"text":\n',
        "[1, 2]\n",
        "nul\n",
    ],
)
def test_json_line_parser_agrees_with_json_loads(line):
    try:
        expected = json.loads(line)
    except ValueError:
        with pytest.raises(ValueError):
            parse_json_line(line)
    else:
        assert parse_json_line(line) == expected


def test_reader_rejects_lone_surrogates_and_keeps_escaped_pairs(tmp_path):
    path = tmp_path / "escaped.jsonl"
    texts = ["lone \ud800 surrogate", "emoji \U0001f600 as a pair", "a backslash \\ud800 in plain text"]
    lines = [json.dumps({"text": t}) for t in texts]  # ensure_ascii: \u escapes
    lines.append(json.dumps({"text": "fine text", "source": "web\udfff"}))  # would reach the shard manifest
    path.write_text("".join(line + "\n" for line in lines))
    rejections: dict[str, int] = {}
    kept = [doc.text for doc in read_documents(path, RecordFieldsConfig(), rejections)]
    assert kept == texts[1:]
    assert rejections == {"invalid_text": 2}
