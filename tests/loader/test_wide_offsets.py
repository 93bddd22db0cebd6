"""What Baichuan-scale corpora need of the shard format and the loader: more than 2**31 documents and tokens in one
source directory (int64 offsets everywhere), and vocabularies past 65,536 ids (uint32 shards).

Nobody writes 2**31 tokens in a unit test: the big shards here are sparse files (a few KiB on disk) whose
documents past 2**31 are real, so every offset on the way to them is past what int32 holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from data_pipeline.formats.token_shard_set import TokenShardSet
from data_pipeline.formats.token_shards import (
    INDEX_DTYPE,
    ShardEntry,
    TokenShardWriter,
    boundaries_bytes,
    write_manifest,
)
from data_pipeline.tokenize import TokenizeConfig, tokenize
from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig
from pretrain.data.permutation import DocumentPermutation

BIG = 2**31


def write_sparse_shard(directory: Path, name: str, boundaries_tail: dict[int, int], documents: int,
                       tokens: dict[int, list[int]], total_tokens: int, dtype=np.uint16) -> ShardEntry:
    """A shard of `documents` documents and `total_tokens` tokens, all zero (sparse) except the given .idx
    entries {position: value} and .bin tokens {position: ids}."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{name}.idx", "wb") as fh:
        fh.truncate((documents + 1) * INDEX_DTYPE.itemsize)
        for position, value in boundaries_tail.items():
            fh.seek(position * INDEX_DTYPE.itemsize)
            fh.write(np.array([value], INDEX_DTYPE).tobytes())
    with open(directory / f"{name}.bin", "wb") as fh:
        fh.truncate(total_tokens * np.dtype(dtype).itemsize)
        for position, ids in tokens.items():
            fh.seek(position * np.dtype(dtype).itemsize)
            fh.write(np.array(ids, dtype).tobytes())
    return ShardEntry(name, total_tokens, documents, directory.name, "xx")


def test_more_than_2_31_documents_in_one_directory(tmp_path):
    """Shard a: 2**31 empty documents, then three real ones; shard b after it starts at document 2**31 + 3."""
    directory = tmp_path / "web"
    a = write_sparse_shard(directory, "a", {BIG + 1: 4, BIG + 2: 9, BIG + 3: 12}, BIG + 3,
                           {0: [5, 6, 7, 2, 8, 9, 10, 11, 2, 12, 13, 2]}, 12)
    with TokenShardWriter(directory, "b", vocab_size=1000, eos_id=2) as writer:
        writer.add_documents([np.array([40, 41]), np.array([42])], sources=["web"] * 2, languages=["xx"] * 2)
    write_manifest(directory, [a, writer.entry], vocab_size=1000, eos_id=2, tokenizer_sha256="0" * 64)
    shards = TokenShardSet.from_path(str(directory))
    assert shards.num_documents == BIG + 5 and shards.num_tokens == 12 + 5
    assert shards.document_tokens(BIG).tolist() == [5, 6, 7, 2]
    assert shards.document_tokens(BIG + 2, 1).tolist() == [13, 2]
    assert shards.document_tokens(BIG + 4).tolist() == [42, 2]  # shard b: first document 2**31 + 3
    assert shards.shard_of(np.array([0, BIG + 2, BIG + 3])).tolist() == [0, 0, 1]
    assert shards.document_lengths(np.array([5, BIG + 1, BIG + 3])).tolist() == [0, 5, 3]


def test_the_base_order_is_a_permutation_past_2_32_documents():
    n = 3 * 2**32 + 17
    permutation = DocumentPermutation(n, [1234, 5])
    positions = np.array([0, 1, BIG - 1, BIG, 2**32 + 1, n - 2, n - 1])
    documents = permutation(positions)
    assert ((documents >= 0) & (documents < n)).all() and len(set(documents.tolist())) == positions.size
    np.testing.assert_array_equal(permutation.inverse(documents), positions)
    assert (documents > 2**32).sum() >= 3  # outputs spread over the whole range, not folded into 32 bits


def test_more_than_2_31_tokens_in_one_source_through_the_loader(tmp_path):
    """Document 0 has 2**31 + 5 tokens (zeros), document 1 four real ones: in epoch 1 it starts past 2**31."""
    directory = tmp_path / "books"
    entry = write_sparse_shard(directory, "a", {1: BIG + 5, 2: BIG + 9}, 2, {BIG + 5: [71, 72, 73, 2]}, BIG + 9)
    write_manifest(directory, [entry], vocab_size=1000, eos_id=2, tokenizer_sha256="0" * 64)
    config = DataConfig([SourceConfig("books", str(directory))], validation_fraction=0.0, window_shuffle_block=1)
    loader = PretrainDataLoader(config, seq_len=16, micro_batch_size=1)
    stream = loader.sources[0].train
    assert stream.epoch_tokens == BIG + 9 and loader.summaries()[0].train_tokens == BIG + 9
    order = list(stream.epoch_documents(1))
    start = stream.epoch_tokens + (0 if order[0] == 1 else BIG + 5)  # where document 1 starts in the stream
    window, position = divmod(start, 16)
    tokens, doc_ids = loader.global_sample(window)
    assert tokens[position : position + 4].tolist() == [71, 72, 73, 2][: 17 - position]
    assert doc_ids[position] == doc_ids[max(position - 1, 0)] + (position > 0)


def test_boundaries_past_2_31_are_written_as_int64():
    values = [0, BIG + 5, 2**32 + 7, 2**40]
    assert np.frombuffer(boundaries_bytes(values), INDEX_DTYPE).tolist() == values


class WideVocabularyProcessor:
    """A stand-in SentencePiece model of 100,000 pieces whose ids are all past 65,535."""

    def __init__(self, model_file: str):
        self.model_file = model_file

    def get_piece_size(self) -> int:
        return 100_000

    def eos_id(self) -> int:
        return 2

    def encode(self, texts, num_threads=1, return_type=None):
        return [np.array([65_536 + ord(c) for c in text], dtype=np.int64) for text in texts]


def test_a_vocabulary_past_65536_goes_through_tokenize_and_the_loader(tmp_path, monkeypatch):
    import sentencepiece

    monkeypatch.setattr(sentencepiece, "SentencePieceProcessor", WideVocabularyProcessor)
    (tmp_path / "tokenizer.model").write_bytes(b"stand-in")
    texts = ["wide ids", "more text here", "and a third one"]
    with open(tmp_path / "kept.jsonl", "w") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": str(i), "text": text, "source": "web", "meta": {"lang": "en"}}) + "\n")
    tokenize(TokenizeConfig(input=str(tmp_path / "kept.jsonl"), tokenizer=str(tmp_path / "tokenizer.model"),
                            output=str(tmp_path / "shards"), num_workers=1))
    manifest = json.loads((tmp_path / "shards" / "web" / "manifest.json").read_text())
    assert manifest["dtype"] == "uint32" and manifest["vocab_size"] == 100_000
    config = DataConfig([SourceConfig("web", str(tmp_path / "shards" / "web"))], validation_fraction=0.0,
                        window_shuffle_block=1)
    loader = PretrainDataLoader(config, seq_len=8, micro_batch_size=1)
    order = list(loader.sources[0].train.epoch_documents(0))
    expected = [i for d in order for i in [65_536 + ord(c) for c in texts[d]] + [2]]
    batch = next(iter(loader))
    assert batch["input_ids"][0].tolist() == expected[:8] and batch["labels"][0].tolist() == expected[1:9]
    assert min(expected) == 2 and max(expected) > 65_535
