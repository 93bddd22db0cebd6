"""The fused, chunked cross-entropy (`ChunkedLinearCrossEntropy`) against torch's own cross-entropy on full
logits, written here independently of `pretrain.model.loss.naive_cross_entropy`."""

import pytest
import torch
import torch.nn.functional as F

from pretrain.model.loss import causal_lm_loss


def reference(hidden, weight, labels):
    """Mean token cross-entropy over labels != -100, on fp32 logits computed in the weight's dtype."""
    logits = (hidden @ weight.t()).float()
    return F.cross_entropy(logits, labels, ignore_index=-100, reduction="mean")


def inputs(dtype, tokens=37, hidden_size=24, vocab=301, scale=0.3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(tokens, hidden_size, generator=gen).to(dtype)
    weight = (torch.randn(vocab, hidden_size, generator=gen) * scale).to(dtype)
    labels = torch.randint(0, vocab, (tokens,), generator=gen)
    labels[::5] = -100  # ignored tokens scattered through every chunk
    labels[-3:] = -100
    return hidden, weight, labels


def loss_and_grads(fn, hidden, weight, labels, grad_scale=1.0):
    h = hidden.clone().requires_grad_()
    w = weight.clone().requires_grad_()
    loss = fn(h, w, labels)
    (loss * grad_scale).backward()
    return loss.detach(), h.grad, w.grad


@pytest.mark.parametrize("chunk", [1, 5, 16, 36, 37, 100])  # 5, 16 and 36 do not divide 37 tokens
def test_fp32_value_and_gradients_equal_cross_entropy(chunk):
    hidden, weight, labels = inputs(torch.float32)
    expected = loss_and_grads(reference, hidden, weight, labels)
    got = loss_and_grads(lambda h, w, y: causal_lm_loss(h, w, y, chunk), hidden, weight, labels)
    for name, a, b in zip(("loss", "grad hidden", "grad weight"), got, expected):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_value_and_gradients_equal_cross_entropy(dtype):
    hidden, weight, labels = inputs(dtype, tokens=64, vocab=1000)
    expected = loss_and_grads(reference, hidden, weight, labels)
    got = loss_and_grads(lambda h, w, y: causal_lm_loss(h, w, y, 24), hidden, weight, labels)
    assert got[0].dtype == torch.float32 and got[1].dtype == got[2].dtype == dtype
    torch.testing.assert_close(got[0], expected[0], atol=1e-5, rtol=1e-5)  # same rounded logits, fp32 softmax
    # The gradient differs only by where it is rounded to `dtype` (once per element here, after the 1/N scale).
    for a, b in zip(got[1:], expected[1:]):
        torch.testing.assert_close(a.float(), b.float(), atol=2e-4, rtol=2e-2)


def test_large_logits_give_exact_large_losses():
    """Probabilities of targets far below fp32's smallest normal (loss > 100) still give the exact loss."""
    hidden, weight, labels = inputs(torch.float32, scale=8.0, seed=3)
    expected = loss_and_grads(reference, hidden, weight, labels)
    assert expected[0] > 100
    got = loss_and_grads(lambda h, w, y: causal_lm_loss(h, w, y, 8), hidden, weight, labels)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)


def test_upstream_gradient_scale_and_frozen_or_absent_gradients():
    hidden, weight, labels = inputs(torch.float32)
    chunked = lambda h, w, y: causal_lm_loss(h, w, y, 10)  # noqa: E731
    expected = loss_and_grads(reference, hidden, weight, labels, grad_scale=0.25)  # e.g. 1 / grad accumulation
    got = loss_and_grads(chunked, hidden, weight, labels, grad_scale=0.25)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    h = hidden.clone().requires_grad_()
    chunked(h, weight, labels).backward()  # frozen head: only the hidden gradient
    torch.testing.assert_close(h.grad, expected[1] * 4, atol=1e-6, rtol=1e-5)
    with torch.no_grad():  # evaluation: no gradient buffers at all
        torch.testing.assert_close(chunked(hidden, weight, labels), expected[0], atol=1e-6, rtol=1e-6)


def test_all_labels_ignored_gives_zero_loss_and_zero_gradients():
    hidden, weight, labels = inputs(torch.float32)
    loss, grad_hidden, grad_weight = loss_and_grads(
        lambda h, w, y: causal_lm_loss(h, w, y, 16), hidden, weight, torch.full_like(labels, -100))
    assert loss.item() == 0.0
    assert not grad_hidden.any() and not grad_weight.any()


def test_workspace_is_reused_between_calls_and_never_copied():
    import copy
    import pickle

    from pretrain.model.loss import LossWorkspace

    hidden, weight, labels = inputs(torch.float32)
    workspace = LossWorkspace()
    expected = loss_and_grads(reference, hidden, weight, labels)
    chunked = lambda h, w, y: causal_lm_loss(h, w, y, 16, workspace)  # noqa: E731
    first = loss_and_grads(chunked, hidden, weight, labels)
    buffer = workspace.get(16, weight.shape[0], torch.float32, hidden.device)
    second = loss_and_grads(chunked, hidden, weight, labels)  # the buffer now holds the last chunk's gradient
    assert workspace.get(16, weight.shape[0], torch.float32, hidden.device).data_ptr() == buffer.data_ptr()
    for a, b, c in zip(first, second, expected):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c, atol=1e-6, rtol=1e-5)
    assert copy.deepcopy(workspace)._buffers == {} and pickle.loads(pickle.dumps(workspace))._buffers == {}
    bigger = workspace.get(40, weight.shape[0], torch.float32, hidden.device)  # grows when a call needs more
    assert bigger.shape == (40, weight.shape[0])


@pytest.mark.parametrize("loss_scale", [2.0**15, 2.0**16])  # 2**16: DeepSpeed's initial dynamic loss scale
def test_fp16_gradients_under_loss_scaling_match_the_naive_loss(loss_scale):
    """fp16 training as DeepSpeed runs it: `(loss * scale).backward()`. With 512 tokens and a 64,000 vocab,
    softmax / N is ~3e-8, below fp16's smallest subnormal: it survives only when the loss scale is applied
    (in fp32) before the cast to fp16, as the naive loss does. And 2**16 itself is inf in fp16."""
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(512, 16, generator=gen).half()
    weight = (torch.randn(64_000, 16, generator=gen) * 0.02).half()
    labels = torch.randint(0, 64_000, (512,), generator=gen)
    labels[::7] = -100

    def grads(chunk, dtype):
        _, grad_hidden, grad_weight = loss_and_grads(
            lambda h, w, y: causal_lm_loss(h, w, y, chunk), hidden.to(dtype), weight.to(dtype), labels, loss_scale)
        return grad_hidden.double(), grad_weight.double()

    exact = grads(0, torch.float32)  # the same fp16-representable inputs, fp32 arithmetic throughout
    naive, chunked = grads(0, torch.float16), grads(200, torch.float16)  # 200: chunks that do not divide 512
    for name, n, c, e in zip(("grad hidden", "grad weight"), naive, chunked, exact):
        assert torch.isfinite(c).all(), name
        naive_error, chunked_error = ((n - e).norm() / e.norm()).item(), ((c - e).norm() / e.norm()).item()
        assert naive_error < 1e-3, name  # the naive loss is the yardstick: fp16 rounding only
        assert chunked_error <= 2 * naive_error, (name, chunked_error, naive_error)
