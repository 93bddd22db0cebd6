"""Shuffle quality of the two-level epoch order: every training document exactly once per epoch, and neighbours
(documents, and consecutive samples) from one shard no more often than a uniform document shuffle gives.

Run twice: with one document per chunk (sources up to 65,536 documents) and with the chunk count lowered so that
chunks hold many documents (what a source of hundreds of millions of documents gets)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig, document_index
from pretrain.data.offset_file import OffsetFile

SHARDS, PER_SHARD = 8, 400


@pytest.fixture(params=[None, 64], ids=["one-document-chunks", "64-chunks-read-by-pread"])
def loader_and_docs(request, shard_factory, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(document_index, "MAX_EPOCH_CHUNKS", request.param)
        monkeypatch.setattr(OffsetFile, "IN_MEMORY_LIMIT", 0)  # the path of index files past 512 KiB
    docs = shard_factory.documents(11, SHARDS * PER_SHARD, min_len=2, max_len=40)
    path = shard_factory.source("src", docs, shards=SHARDS)
    config = DataConfig([SourceConfig("src", str(path))], validation_fraction=0.05, window_shuffle_block=16)
    loader = PretrainDataLoader(config, seq_len=16, micro_batch_size=1)
    assert loader.sources[0].index.chunk_size == (1 if request.param is None else 50)
    return loader, docs


def uniform_same_shard_rate(sizes: list[int]) -> float:
    """P(two distinct documents drawn uniformly lie in the same shard)."""
    n = sum(sizes)
    return sum(s * (s - 1) for s in sizes) / (n * (n - 1))


def tolerance(rate: float, pairs: int) -> float:
    """Four standard errors of a rate measured on `pairs` pairs: a uniform shuffle exceeds it ~3e-5 of the time."""
    return 4 * math.sqrt(rate * (1 - rate) / pairs)


def test_every_training_document_once_per_epoch_and_windows_tile_it(loader_and_docs, shard_factory):
    loader, docs = loader_and_docs
    source = loader.sources[0]
    held_out = set(source.validation.epoch_documents(0))
    stream = source.train
    orders = [list(stream.epoch_documents(e)) for e in range(3)]
    for order in orders:
        assert sorted(order) == sorted(set(range(len(docs))) - held_out)  # each exactly once
    assert orders[0] != orders[1] != orders[2]  # a fresh order every epoch
    # the windows of epochs 0 and 1, read in stream order, are exactly those documents, in that order
    stream.shuffle_block = 1
    windows = (2 * stream.epoch_tokens) // 16
    tokens = np.concatenate([stream.window(0)[0]] + [stream.window(k)[0][1:] for k in range(1, windows)])
    expected = np.concatenate([np.append(docs[d], shard_factory.eos) for d in orders[0] + orders[1] + orders[2]])
    np.testing.assert_array_equal(tokens, expected[: tokens.size])  # the last window reaches into epoch 2


def test_neighbouring_documents_share_a_shard_no_more_than_uniformly(loader_and_docs):
    loader, _ = loader_and_docs
    source = loader.sources[0]
    order = np.array([d for e in range(3) for d in source.train.epoch_documents(e)])
    shard = source.shards.shard_of(order)
    rate = float(np.mean(shard[1:] == shard[:-1]))
    expected = uniform_same_shard_rate([PER_SHARD] * SHARDS)
    assert rate <= expected + tolerance(expected, order.size - 1), (rate, expected)


def window_first_documents(stream, epoch_orders: list[list[int]], lengths: np.ndarray, samples: int) -> np.ndarray:
    """The document each of the first `samples` samples starts in, had the epochs been `epoch_orders`."""
    ends = [np.cumsum(lengths[order]) for order in epoch_orders]
    first = []
    for g in range(samples):
        epoch, offset = divmod(stream._physical_window(g) * stream.seq_len, stream.epoch_tokens)
        first.append(epoch_orders[epoch][int(np.searchsorted(ends[epoch], offset, side="right"))])
    return np.array(first)


def test_consecutive_samples_come_from_one_shard_no_more_than_uniformly(loader_and_docs):
    """Windows cut documents, so two samples of one window block often start in one long document: the reference
    is the same windows over a uniform document shuffle (numpy's permutation of the training documents)."""
    loader, docs = loader_and_docs
    stream, shards = loader.sources[0].train, loader.sources[0].shards
    samples = 3 * stream.epoch_tokens // stream.seq_len
    lengths = np.array([len(d) + 1 for d in docs])
    ours = [list(stream.epoch_documents(e)) for e in range(4)]
    rng = np.random.default_rng(0)
    uniform = [rng.permutation(ours[0]).tolist() for _ in range(4)]
    first = {"ours": window_first_documents(stream, ours, lengths, samples),
             "uniform": window_first_documents(stream, uniform, lengths, samples)}
    for g in range(0, samples, 13):  # what the loader itself reads starts in that document
        epoch, offset = divmod(stream._physical_window(g) * stream.seq_len, stream.epoch_tokens)
        start = int(stream.order.run(epoch, offset, 1)[0][0])
        assert start == int(shards.source_token_starts(np.array([first["ours"][g]]))[0])
    rates = []
    for documents in first.values():
        shard = shards.shard_of(documents)
        rates.append(float(np.mean(shard[1:] == shard[:-1])))
    # two rates measured on `samples` pairs each: four standard errors of their difference
    assert rates[0] <= rates[1] + math.sqrt(2) * tolerance(rates[1], samples - 1), rates
