"""The token embedding's CPU backward (calloc'd zeros + index_add_) equals torch's embedding backward."""

import pytest
import torch
import torch.nn.functional as F

from pretrain.model.embedding import Embedding, calloc_zeros


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])  # bf16 takes torch's own path
def test_gradient_equals_torch_embedding_backward_exactly(dtype):
    gen = torch.Generator().manual_seed(0)
    embedding = Embedding(50, 8, std=0.02).to(dtype)
    ids = torch.randint(0, 50, (3, 20), generator=gen)
    ids[0, :5] = 7  # repeated ids: their rows are sums
    upstream = torch.randn(3, 20, 8, generator=gen).to(dtype)
    out = embedding(ids)
    assert (type(out.grad_fn).__name__ == "_CPUEmbeddingLookupBackward") == (dtype == torch.float32)
    out.backward(upstream)
    weight = embedding.weight.detach().clone().requires_grad_()
    expected = F.embedding(ids, weight)
    expected.backward(upstream)
    assert torch.equal(out, expected)
    assert embedding.weight.grad.dtype == dtype and embedding.weight.grad.shape == (50, 8)
    assert torch.equal(embedding.weight.grad, weight.grad)
    unused = torch.ones(50, dtype=torch.bool)
    unused[ids.unique()] = False
    assert not embedding.weight.grad[unused].any()


def test_frozen_or_no_grad_lookup_is_plain_and_calloc_zeros_are_zero():
    embedding = Embedding(10, 4, std=1.0)
    ids = torch.tensor([[1, 2, 2]])
    with torch.no_grad():
        assert torch.equal(embedding(ids), embedding.weight[ids])
    embedding.weight.requires_grad_(False)
    assert embedding(ids).grad_fn is None
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        zeros = calloc_zeros(torch.Size([3, 5]), dtype)
        assert zeros.dtype == dtype and zeros.shape == (3, 5) and not zeros.any()
