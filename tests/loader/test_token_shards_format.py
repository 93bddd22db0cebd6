"""The token-shard format: what is written is read back exactly, and damage is detected."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_pipeline.formats.token_shard_set import TokenShardSet
from data_pipeline.formats.token_shards import (
    TokenShardError,
    TokenShardWriter,
    dtype_for_vocab,
    read_manifest,
    write_manifest,
)


def test_documents_round_trip_with_eos_and_manifest_totals(tmp_path, shard_factory):
    docs = shard_factory.documents(0, 25)
    shard_factory.source("src", docs, shards=3)
    shard_set = TokenShardSet.from_path(str(tmp_path / "src"))
    assert shard_set.num_documents == 25
    assert shard_set.num_tokens == sum(len(d) + 1 for d in docs)
    for i, doc in enumerate(docs):
        tokens = shard_set.document_tokens(i)
        assert tokens[-1] == shard_factory.eos
        np.testing.assert_array_equal(tokens[:-1], doc)
    np.testing.assert_array_equal(shard_set.document_tokens(3, 1, 4), docs[3][1:4])
    manifest = json.loads((tmp_path / "src" / "manifest.json").read_text())
    assert manifest["dtype"] == "uint16"
    assert manifest["totals"]["documents"] == 25
    assert manifest["totals"]["by_source"]["src"]["tokens"] == shard_set.num_tokens
    assert [s["documents"] for s in manifest["shards"]] == [9, 9, 7]


def test_dtype_follows_vocab_size():
    assert dtype_for_vocab(64_000) == np.uint16
    assert dtype_for_vocab(65_536) == np.uint16
    assert dtype_for_vocab(65_537) == np.uint32


def test_uint32_shards_keep_large_ids(tmp_path):
    with TokenShardWriter(tmp_path, "big", vocab_size=100_000, eos_id=2) as writer:
        writer.add_document([99_999, 70_000, 5], source="s", language="zh")
    write_manifest(tmp_path, [writer.entry], vocab_size=100_000, eos_id=2, tokenizer_sha256="0" * 64)
    shard_set = TokenShardSet([tmp_path])
    assert shard_set.dtype == np.uint32
    assert shard_set.document_tokens(0).tolist() == [99_999, 70_000, 5, 2]
    assert (tmp_path / "big.bin").stat().st_size == 4 * 4


def test_out_of_range_id_is_refused_and_no_partial_files_remain(tmp_path):
    with pytest.raises(ValueError, match="out of range"):
        with TokenShardWriter(tmp_path, "bad", vocab_size=10, eos_id=2) as writer:
            writer.add_document([1, 2, 3], source="s", language="en")
            writer.add_document([11], source="s", language="en")
    assert list(tmp_path.iterdir()) == []


def test_truncated_shard_is_detected(tmp_path, shard_factory):
    shard_factory.source("src", shard_factory.documents(0, 5), shards=1)
    bin_path = tmp_path / "src" / "part-00000.bin"
    bin_path.write_bytes(bin_path.read_bytes()[:-2])
    with pytest.raises(TokenShardError, match="does not match its manifest"):
        TokenShardSet.from_path(str(tmp_path / "src"))


def test_glob_opens_several_directories_as_one_set(tmp_path, shard_factory):
    shard_factory.source("web-a", shard_factory.documents(0, 4), shards=1)
    shard_factory.source("web-b", shard_factory.documents(1, 6), shards=1)
    (tmp_path / "web-c").mkdir()  # no manifest: not a shard directory, ignored
    shard_set = TokenShardSet.from_path(str(tmp_path / "web-*"))
    assert shard_set.num_documents == 10
    assert read_manifest(tmp_path / "web-b").total_documents == 6


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(TokenShardError, match="no token-shard directory"):
        TokenShardSet.from_path(str(tmp_path / "nope"))
