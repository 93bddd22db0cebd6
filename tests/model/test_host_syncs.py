"""A training forward queues device work only: no op whose result the host must wait for (`nonzero`, `item`)
and no tensor built from host data (an `.to(device)` copy that blocks), so one micro-batch does not stall the
next. Checked on CPU by recording every aten op the forward dispatches."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pretrain.model import BaichuanForCausalLM
from pretrain.model.attention import AttentionMask, eager_attention, flash_attention
from pretrain.model.positions import document_cu_seqlens

from .conftest import build, small_config

# Ops that make the host wait for the device (data-dependent shapes or values read back), and `lift_fresh`:
# the op of `torch.tensor(host data)`, which on a GPU is a blocking host-to-device copy.
HOST_SYNC_OPS = ("nonzero", "_local_scalar_dense", "item", "lift_fresh", "masked_select", "unique")


class OpRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))

    def syncing(self) -> list[str]:
        return sorted({op for op in self.ops if op.startswith(HOST_SYNC_OPS)})


DOCS = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2], [5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6]])


@pytest.mark.parametrize("position", ["rope", "alibi"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_forward_has_no_host_sync(position, attention):
    model = build(small_config(position=position, attention=attention)).train()
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(0))
    cu_seqlens, max_seqlen = document_cu_seqlens(DOCS), 6  # what the loader ships with the batch
    model(ids, labels=ids, doc_ids=DOCS, cu_seqlens=cu_seqlens, max_seqlen=max_seqlen)  # first call may set up
    with OpRecorder() as recorder:
        model(ids, labels=ids, doc_ids=DOCS, cu_seqlens=cu_seqlens, max_seqlen=max_seqlen)
    assert recorder.ops and recorder.syncing() == []


def test_alibi_slopes_are_an_fp32_buffer_outside_the_state_dict():
    model = build(small_config(position="alibi"))
    slopes = dict(model.named_buffers())["model.alibi_slopes"]
    assert slopes.dtype == torch.float32 and "model.alibi_slopes" not in model.state_dict()
    model.to(torch.bfloat16)  # what a bf16 cast of the whole module does to floating buffers
    ids = torch.randint(0, 97, (1, 8))
    model(ids)
    assert model.model.alibi_slopes.dtype == torch.float32
    torch.testing.assert_close(model.model.alibi_slopes, slopes, atol=0, rtol=0)


def fake_flash_functions(calls: list, compute: bool):
    """flash-attn 2.8's two entry points, on CPU: record the arguments and (optionally) compute the same
    attention per cu_seqlens segment with the eager reference."""

    def varlen(q, k, v, cu_q, cu_k, max_q, max_k, causal=False, alibi_slopes=None):
        calls.append(dict(cu_q=cu_q, cu_k=cu_k, max_q=max_q, max_k=max_k, causal=causal, device=q.device))
        if not compute:
            return torch.empty_like(q)
        bounds = cu_q.tolist()
        out = [eager_attention(*(t[None, a:b] for t in (q, k, v)), AttentionMask(alibi_slopes=alibi_slopes))[0]
               for a, b in zip(bounds, bounds[1:])]
        return torch.cat(out)

    return (lambda *args, **kwargs: pytest.fail("packed rows must take the varlen kernel")), varlen


@pytest.mark.parametrize("alibi", [False, True])
def test_flash_varlen_gets_the_loader_cu_seqlens_without_a_sync(monkeypatch, alibi):
    """flash-attn 2.8's contract: int32 cu_seqlens on the device, max_seqlen a Python int (from the host)."""
    import pretrain.model.attention as attention

    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 12, 4, 8, generator=gen) for _ in range(3))
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625]) if alibi else None
    cu_seqlens = document_cu_seqlens(DOCS)
    calls = []
    monkeypatch.setattr(attention, "flash_attn_functions", lambda: fake_flash_functions(calls, compute=False))
    mask = AttentionMask(doc_ids=DOCS, alibi_slopes=slopes, cu_seqlens=cu_seqlens, max_seqlen=6)
    with OpRecorder() as recorder:
        flash_attention(q, k, v, mask)
    assert recorder.syncing() == []
    call = calls[0]
    assert call["cu_q"] is call["cu_k"] and call["cu_q"].dtype == torch.int32
    assert call["cu_q"].tolist() == [0, 3, 7, 12, 18, 24] and call["cu_q"].device == call["device"]
    assert type(call["max_q"]) is int and call["max_q"] == call["max_k"] == 6 and call["causal"]
    # The same segments give the same attention as the eager reference with the document mask; and a caller
    # that passes doc_ids only (generate, evaluate) gets cu_seqlens derived, max_seqlen bounded by the row.
    monkeypatch.setattr(attention, "flash_attn_functions", lambda: fake_flash_functions(calls, compute=True))
    reference = eager_attention(q, k, v, AttentionMask(doc_ids=DOCS, alibi_slopes=slopes))
    for given in (mask, AttentionMask(doc_ids=DOCS, alibi_slopes=slopes)):
        torch.testing.assert_close(flash_attention(q, k, v, given), reference, atol=1e-6, rtol=1e-5)
    assert calls[-1]["cu_q"].tolist() == [0, 3, 7, 12, 18, 24] and calls[-1]["max_q"] == 12


def test_packed_alibi_forward_compiles_as_one_graph():
    """torch.compile(fullgraph=True) refuses data-dependent ops; dynamo only (backend='eager'), ~1 s on CPU."""
    torch._dynamo.reset()
    model = build(small_config(position="alibi", attention="sdpa", num_layers=1)).train()
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    loss = compiled(ids, labels=ids, doc_ids=DOCS, cu_seqlens=document_cu_seqlens(DOCS), max_seqlen=6)
    torch.testing.assert_close(loss, model(ids, labels=ids, doc_ids=DOCS), atol=1e-6, rtol=1e-6)
    assert isinstance(model, BaichuanForCausalLM)
