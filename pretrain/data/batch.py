"""What a micro-batch holds, and how it reaches the device without making the host wait.

The trainer promises one host sync per optimizer step, so nothing per micro-batch may wait for the device:
  * the flash-attn varlen kernel needs each document's offsets (`cu_seqlens`) and the longest document
    (`max_seqlen`, a Python int). Derived from `doc_ids` on the device they take a `nonzero` (its output size
    depends on the data) and a read-back, two syncs; here they come from the host copy, where they are free;
  * a copy from pageable host memory blocks until the device has drained its queue; from pinned memory with
    `non_blocking=True` it is queued behind the running step. So batches are pinned, where CUDA exists.
"""

from __future__ import annotations

import numpy as np
import torch

from pretrain.model.positions import document_cu_seqlens


def packed_batch(windows: np.ndarray, doc_ids: np.ndarray, trained: np.ndarray | None = None) -> dict:
    """windows, doc_ids [mb, seq_len + 1] -> {"input_ids", "labels", "doc_ids": LongTensor [mb, seq_len],
    "cu_seqlens": IntTensor [segments + 1], "max_seqlen": int}. Labels are the inputs shifted by one; with
    `trained` (bool [mb, seq_len + 1], fine-tuning) a label whose token is not trained is -100. Every tensor is
    built here, before pinning: one changed afterwards would have to be a new, pageable tensor."""
    tokens = torch.from_numpy(windows)
    docs = torch.from_numpy(np.ascontiguousarray(doc_ids[:, :-1]))
    cu_seqlens = document_cu_seqlens(docs)
    labels = windows[:, 1:] if trained is None else np.where(trained[:, 1:], windows[:, 1:], -100)
    batch = {
        "input_ids": tokens[:, :-1].contiguous(),
        "labels": torch.from_numpy(np.ascontiguousarray(labels, dtype=windows.dtype)),
        "doc_ids": docs,
        "cu_seqlens": cu_seqlens,
    }
    if torch.cuda.is_available():  # pinning needs a CUDA context; the engine has chosen this rank's device by now
        batch = {key: tensor.pin_memory() for key, tensor in batch.items()}
    batch["max_seqlen"] = int(cu_seqlens.diff().max())
    return batch


def batch_to_device(batch: dict, device: torch.device, document_masking: bool) -> dict:
    """The model's keyword arguments for a loader batch, copied to `device` with `non_blocking` (a no-op from
    pageable memory, where torch copies synchronously anyway). Without document masking the model gets no
    document information at all; a batch without `cu_seqlens` (e.g. hand-built) leaves the model to derive it."""
    inputs = {name: batch[name].to(device, non_blocking=True) for name in ("input_ids", "labels")}
    if document_masking:
        inputs["doc_ids"] = batch["doc_ids"].to(device, non_blocking=True)
        if "cu_seqlens" in batch:
            inputs["cu_seqlens"] = batch["cu_seqlens"].to(device, non_blocking=True)
            inputs["max_seqlen"] = batch["max_seqlen"]
    return inputs
