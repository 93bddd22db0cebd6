"""Hostile files through the other readers of text, in process: the tokenizer tools' reader and `tokenize`,
`quality train`'s and dedup_eval's input, the benchmark CSV reader. Never a crash; every line accounted for."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_pipeline.dedup.evaluate import DedupEvalConfig, load_sample
from data_pipeline.errors import UserError
from data_pipeline.quality.train import TrainConfig, collect_examples
from data_pipeline.tokenize import TokenizeConfig, tokenize
from data_pipeline.tokenizer.input_records import RecordFieldsConfig, read_documents
from data_pipeline.train_tokenizer import COMMAND as TRAIN_TOKENIZER_COMMAND
from data_pipeline.train_tokenizer import train_tokenizer
from pretrain.evaluation.mc_data import read_benchmark_csv
from tests.fuzz.hostile_input import BLANK, CHINESE, ENGLISH, any_text, hostile_file


@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("corpus") / "text.jsonl"
    words = (ENGLISH + CHINESE).split()
    corpus.write_text("".join(f'{{"text": "{" ".join(words[i % len(words):] + words)} {i}"}}\n'
                              for i in range(200)), encoding="utf-8")
    out = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(TRAIN_TOKENIZER_COMMAND.build_config([f"input={corpus}", f"output={out}", "vocab_size=500"]))
    return out


def write(tmp: str, suffix: str, data: bytes) -> Path:
    path = Path(tmp) / f"input{suffix}"
    path.write_bytes(data)
    return path


@given(hostile_file())
def test_tokenizer_reader_counts_every_line(hostile):
    lines, data, suffix, first_lost = hostile
    with tempfile.TemporaryDirectory() as tmp:
        rejections: dict[str, int] = {}
        documents = list(read_documents(write(tmp, suffix, data), RecordFieldsConfig(), rejections))
        for document in documents:
            assert document.text and document.text.encode("utf-8")  # SentencePiece can take it
            document.source.encode("utf-8"), document.language.encode("utf-8")  # so can the manifest
        if first_lost is None:
            assert len(documents) + sum(rejections.values()) == sum(line.kind != BLANK for line in lines)
        else:
            assert rejections.get("truncated_file", 0) <= 1


@given(hostile=hostile_file(max_lines=6))
def test_tokenize_writes_every_readable_document(small_tokenizer, hostile):
    lines, data, suffix, first_lost = hostile
    with tempfile.TemporaryDirectory() as tmp:
        path = write(tmp, suffix, data)
        expected = len(list(read_documents(path, RecordFieldsConfig(), {})))
        summary = tokenize(TokenizeConfig(input=str(path), tokenizer=str(small_tokenizer),
                                          output=str(Path(tmp) / "shards"), num_workers=1))
        assert summary["documents"] == expected


@given(hostile_file(max_lines=8))
def test_quality_training_input_and_dedup_eval_sample(hostile):
    lines, data, suffix, first_lost = hostile
    with tempfile.TemporaryDirectory() as tmp:
        path = str(write(tmp, suffix, data))
        for example in collect_examples(TrainConfig(positive=[path], negative=[path], junk_per_lang=5)):
            example.text.encode("utf-8")
        try:
            sample = load_sample(DedupEvalConfig(input=[path], sample=5))
        except UserError as err:  # fewer than 2 readable records: the documented one-line error
            assert "fewer than 2" in str(err)
        else:
            assert all(record["text"].encode("utf-8") for record in sample)


csv_cell = st.one_of(any_text, st.sampled_from(["A", "b", "", " C ", "E"]))


@given(st.one_of(
    st.binary(max_size=400),
    st.lists(st.lists(csv_cell, max_size=9), max_size=8).map(
        lambda rows: _csv_bytes(rows)),
))
def test_benchmark_csv_reader_never_raises(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "subject_test.csv"
        path.write_bytes(data)
        layout, items, rejected = read_benchmark_csv(path)
        assert layout in ("ceval", "cmmlu", "mmlu")
        for item in items:
            assert item.answer in "ABCD" and item.question
            "".join((item.question, *item.options)).encode("utf-8")


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8", "surrogatepass")
