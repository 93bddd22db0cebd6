"""The loader's per-document index: built once into shared files, reused, rebuilt when what it depends on
changes, refused clearly where it cannot be written; the held-out split by document hash; memory per rank that
does not grow with the number of documents; old checkpoints' data state refused."""

from __future__ import annotations

import errno
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from data_pipeline.formats.token_shards import TokenShardWriter, write_manifest
from pretrain.data import (
    DataConfig,
    DataConfigError,
    DataStateVersionError,
    PretrainDataLoader,
    SourceConfig,
    document_index,
)
from pretrain.data.document_index import CACHE_DIR_NAME, name_seed
from pretrain.data.offset_file import OffsetFile
from pretrain.data.permutation import stream_keys, uniform_hash


def one_source(path, **kwargs) -> DataConfig:
    return DataConfig([SourceConfig("src", str(path))], mixture_block_size=64, window_shuffle_block=16, **kwargs)


def first_batches(config, count=3, **geometry):
    loader = PretrainDataLoader(config, seq_len=geometry.get("seq_len", 32), micro_batch_size=2,
                                dp_rank=geometry.get("dp_rank", 0), dp_size=geometry.get("dp_size", 1))
    batches = iter(loader)
    return [next(batches)["input_ids"] for _ in range(count)]


def index_files(path: Path) -> list[str]:
    return sorted(p.name for p in (path / CACHE_DIR_NAME).iterdir() if p.suffix == ".json")


def test_index_is_built_once_and_reopened_without_rebuilding(shard_factory, monkeypatch):
    path = shard_factory.source("src", shard_factory.documents(3, 200), shards=4)
    first = first_batches(one_source(path))
    assert len(index_files(path)) == 1

    def no_build(*args, **kwargs):
        raise AssertionError("the index was rebuilt although it exists")

    monkeypatch.setattr(document_index, "_write_train_ends", no_build)
    again = first_batches(one_source(path))  # a restart: same batches, from the files
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_seq_len_and_mixture_reuse_the_index_but_seed_and_split_do_not(shard_factory):
    path = shard_factory.source("src", shard_factory.documents(3, 60), shards=2)
    first_batches(one_source(path))
    first_batches(one_source(path), seq_len=64)  # a source's document order does not depend on seq_len
    assert len(index_files(path)) == 1
    first_batches(one_source(path, seed=7))
    first_batches(one_source(path, validation_fraction=0.2))
    assert len(index_files(path)) == 3


def test_a_rewritten_shard_with_the_same_counts_gets_a_fresh_index(shard_factory):
    docs = [np.full(3, 10 + i) for i in range(6)]
    path = shard_factory.source("src", docs, shards=1)
    config = DataConfig([SourceConfig("src", str(path))], validation_fraction=0.0, window_shuffle_block=1)
    PretrainDataLoader(config, seq_len=8, micro_batch_size=1)
    # same number of documents and tokens, other boundaries: a stale index would cut documents wrongly
    rewritten = [np.full(length, 50 + i) for i, length in enumerate([1, 5, 2, 4, 3, 3])]
    shard_factory.source("src", rewritten, shards=1)
    loader = PretrainDataLoader(config, seq_len=8, micro_batch_size=1)
    order = list(loader.sources[0].train.epoch_documents(0))
    expected = np.concatenate([np.append(rewritten[d], shard_factory.eos) for d in order])
    tokens = np.concatenate([loader.global_sample(0)[0][:-1], loader.global_sample(1)[0][:-1]])
    np.testing.assert_array_equal(tokens, expected[:16])


def test_a_read_only_cache_dir_is_one_clear_line(shard_factory, monkeypatch, tmp_path):
    path = shard_factory.source("src", shard_factory.documents(3, 30), shards=1)
    first_batches(one_source(path))  # an index exists beside the shards

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(document_index, "_open_lock_file", read_only)
    first_batches(one_source(path))  # an existing index is only read
    with pytest.raises(DataConfigError, match="Read-only file system.*data.index_cache_dir") as err:
        first_batches(one_source(path, seed=5))  # needs a new one
    assert "\n" not in str(err.value) and "cannot build its loader index" in str(err.value)


def test_index_cache_dir_moves_the_index(shard_factory, tmp_path):
    path = shard_factory.source("src", shard_factory.documents(3, 30), shards=1)
    first_batches(one_source(path, index_cache_dir=str(tmp_path / "cache")))
    assert not (path / CACHE_DIR_NAME).exists()
    assert [p.suffix for p in (tmp_path / "cache").iterdir()].count(".json") == 1


def test_held_out_documents_are_those_whose_hash_is_below_the_fraction(shard_factory):
    path = shard_factory.source("src", shard_factory.documents(4, 400, max_len=20), shards=3)
    loader = PretrainDataLoader(one_source(path, validation_fraction=0.1), seq_len=16, micro_batch_size=1)
    source = loader.sources[0]
    key = stream_keys([1234, name_seed("src"), document_index._VALIDATION_STREAM], 1)[0]
    expected = np.flatnonzero(uniform_hash(np.arange(400), key) < np.uint64(int(0.1 * 2**64)))
    assert list(source.validation.epoch_documents(0)) == expected.tolist()
    assert 20 < expected.size < 60  # ~10 %
    train = list(source.train.epoch_documents(0))
    assert sorted(train + expected.tolist()) == list(range(400))


@pytest.mark.parametrize(("count", "fraction"), [(2, 0.01), (3, 0.001), (2, 0.99), (3, 0.9)])
def test_a_tiny_source_keeps_one_document_of_each_kind(shard_factory, count, fraction):
    path = shard_factory.source("src", shard_factory.documents(5, count, min_len=5), shards=1)
    loader = PretrainDataLoader(one_source(path, validation_fraction=fraction), seq_len=8, micro_batch_size=1)
    summary = loader.summaries()[0]
    assert summary.train_documents >= 1 and summary.validation_documents >= 1
    assert summary.train_documents + summary.validation_documents == count


def test_an_old_loader_state_is_refused_in_one_line(two_sources):
    config = DataConfig([SourceConfig(n, str(p), target_fraction=f) for (n, p), f in zip(two_sources.items(), (0.6, 0.4))])
    loader = PretrainDataLoader(config, seq_len=32, micro_batch_size=2)
    old = json.loads(json.dumps(loader.state_dict()))
    old["fingerprint_parts"]["version"] = 1
    with pytest.raises(DataStateVersionError, match="loader version 1") as err:
        loader.load_state_dict(old)
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)


@pytest.mark.parametrize("in_memory_limit", [0, 1 << 16])
def test_offset_files_search_like_numpy(tmp_path, monkeypatch, in_memory_limit):
    monkeypatch.setattr(OffsetFile, "IN_MEMORY_LIMIT", in_memory_limit)
    values = np.cumsum(np.random.default_rng(0).integers(0, 3, size=5000)) + 2**33  # repeats, past 2**32
    values.astype("<i8").tofile(tmp_path / "v.i64")
    offsets = OffsetFile(tmp_path / "v.i64", values.size)
    for probe in [0, 2**33, int(values[0]), int(values[2500]), int(values[-1]), int(values[-1]) + 1]:
        assert offsets.searchsorted_right(probe) == np.searchsorted(values, probe, side="right")
        assert offsets.searchsorted_right(probe, 100, 4000) == 100 + np.searchsorted(values[100:4000], probe, side="right")
    assert offsets.read(4990, 6000).tolist() == values[4990:].tolist() and offsets.last() == values[-1]


def write_many_documents(root: Path, name: str, documents: int, shards: int) -> Path:
    """`documents` tiny documents (1-4 tokens) in `shards` shards, written a shard at a time."""
    rng = np.random.default_rng(documents)
    directory, entries = root / name, []
    for s in range(shards):
        count = documents // shards
        docs = np.split(rng.integers(3, 1000, size=count * 4), np.cumsum(rng.integers(1, 5, size=count))[:-1])[:count]
        with TokenShardWriter(directory, f"part-{s:05d}", vocab_size=1000, eos_id=2) as writer:
            writer.add_documents(docs, sources=[name] * len(docs), languages=["xx"] * len(docs))
        entries.append(writer.entry)
    write_manifest(directory, entries, vocab_size=1000, eos_id=2, tokenizer_sha256="0" * 64)
    return directory


def traced_bytes_to_open_and_read(path: Path) -> int:
    """Python/numpy heap a reopened loader holds after its first micro-batches (the index is already built)."""
    tracemalloc.start()
    try:
        loader = PretrainDataLoader(one_source(path, validation_fraction=0.01), seq_len=64, micro_batch_size=4,
                                    dp_rank=3, dp_size=8)
        batches = iter(loader)
        for _ in range(5):
            next(batches)
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_memory_held_per_rank_does_not_grow_with_the_documents(tmp_path, monkeypatch):
    # Past MAX_EPOCH_CHUNKS chunks an epoch's table stops growing; lowered here so both sizes are past it.
    monkeypatch.setattr(document_index, "MAX_EPOCH_CHUNKS", 1024)
    small = write_many_documents(tmp_path, "small", 20_000, shards=4)
    large = write_many_documents(tmp_path, "large", 400_000, shards=4)
    for path in (small, large):
        PretrainDataLoader(one_source(path, validation_fraction=0.01), seq_len=64, micro_batch_size=4)  # build
    grown = traced_bytes_to_open_and_read(large) - traced_bytes_to_open_and_read(small)
    # 380,000 more documents: a per-document array of even 4 bytes would add 1.5 MB
    assert grown < 100_000, grown


OPEN_AFTER_GO = """
import logging, sys, time
from pathlib import Path
from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig, document_index

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
build = document_index._write_train_ends
def slow_build(*args):  # long enough that the other process arrives while this one builds
    time.sleep(1.5)
    return build(*args)
document_index._write_train_ends = slow_build
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
loader = PretrainDataLoader(DataConfig([SourceConfig("src", sys.argv[1])]), seq_len=16, micro_batch_size=1)
print(loader.global_sample(5)[0].tolist())
"""


@pytest.mark.slow  # two processes importing torch: ~8 s on the 2-core machine
def test_concurrent_ranks_build_the_index_once(shard_factory, tmp_path):
    import subprocess
    import sys

    path = shard_factory.source("src", shard_factory.documents(3, 50), shards=2)
    go = tmp_path / "go"
    ranks = [subprocess.Popen([sys.executable, "-c", OPEN_AFTER_GO, str(path), str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    outputs = [rank.communicate(timeout=120) for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], outputs
    logs = "".join(err for _, err in outputs)
    assert logs.count("building the loader index") == 1 and logs.count("waiting for another process") == 1, logs
    assert outputs[0][0] == outputs[1][0]  # and both read the same samples
