"""A loader batch carries its documents' `cu_seqlens` and `max_seqlen`, built on the host, so the model never
derives them on the device (a `nonzero`, i.e. a device sync, per micro-batch); `batch_to_device` turns a batch
into the model's keyword arguments."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig, batch_to_device
from pretrain.model import BaichuanForCausalLM, ModelConfig


def make_config(paths) -> DataConfig:
    sources = [SourceConfig(name, str(path), target_fraction=f) for (name, path), f in zip(paths.items(), (0.6, 0.4))]
    return DataConfig(sources=sources, mixture_block_size=64, window_shuffle_block=16, validation_fraction=0.1)


def runs_of_equal_ids(doc_ids: np.ndarray) -> list[int]:
    """Offsets of every run of equal document ids, row by row, in the flattened batch (from the definition)."""
    offsets, position = [], 0
    for row in doc_ids:
        for _, run in itertools.groupby(row.tolist()):
            offsets.append(position)
            position += len(list(run))
    return offsets + [position]


def test_batches_carry_the_cu_seqlens_of_their_doc_ids(two_sources):
    loader = PretrainDataLoader(make_config(two_sources), seq_len=32, micro_batch_size=4)
    batches = list(itertools.islice(loader, 6)) + list(loader.validation_batches("zh", max_batches=2))
    segment_counts = set()
    for batch in batches:
        cu = batch["cu_seqlens"]
        expected = runs_of_equal_ids(batch["doc_ids"].numpy())
        assert cu.dtype == torch.int32 and cu.tolist() == expected
        assert type(batch["max_seqlen"]) is int and batch["max_seqlen"] == max(np.diff(expected))
        assert not cu.is_pinned() or torch.cuda.is_available()  # pinned only where a CUDA copy can use it
        segment_counts.add(cu.numel() - 1)
    assert max(segment_counts) > 4  # the windows do span several documents


def test_batch_to_device_gives_the_model_its_inputs(two_sources):
    loader = PretrainDataLoader(make_config(two_sources), seq_len=32, micro_batch_size=2)
    batch = next(iter(loader))
    masked = batch_to_device(batch, torch.device("cpu"), document_masking=True)
    assert set(masked) == {"input_ids", "labels", "doc_ids", "cu_seqlens", "max_seqlen"}
    assert set(batch_to_device(batch, torch.device("cpu"), document_masking=False)) == {"input_ids", "labels"}
    torch.manual_seed(0)
    model = BaichuanForCausalLM(ModelConfig(vocab_size=1000, hidden_size=32, num_layers=1, num_heads=4,
                                            intermediate_size=64, max_seq_len=32))
    with torch.no_grad():  # the host-built cu_seqlens changes nothing on the sdpa path
        torch.testing.assert_close(model(**masked), model(batch["input_ids"], labels=batch["labels"],
                                                          doc_ids=batch["doc_ids"]), atol=0, rtol=0)
