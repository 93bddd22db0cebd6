"""RMSNorm backends agree; the chunked loss equals the naive one in value and gradient; activation
checkpointing and torch.compile change nothing numerically."""

import pytest
import torch

from pretrain.model import BaichuanForCausalLM
from pretrain.model.kernels import apex_rmsnorm_available
from pretrain.model.norm import RMSNorm, resolve_norm_backend

from .conftest import build, small_config


def norm_backends():
    return ["reference", "torch"] + (["apex"] if apex_rmsnorm_available() else [])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_backends_agree(dtype):
    torch.manual_seed(0)
    x = (torch.randn(3, 5, 48) * 3).to(dtype)
    weight = torch.rand(48) + 0.5
    outputs = {}
    for backend in norm_backends():
        norm = RMSNorm(48, 1e-6, backend)
        with torch.no_grad():
            norm.weight.copy_(weight)
        norm.to(dtype)  # as under bf16 training: weights in the compute dtype
        outputs[backend] = norm(x).float()
    expected = (x.float() / x.float().pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()) * weight
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    for backend, out in outputs.items():
        torch.testing.assert_close(out, expected, atol=tolerance, rtol=tolerance, msg=backend)


def test_apex_without_apex_is_one_clear_error():
    if apex_rmsnorm_available():
        pytest.skip("apex is available here")
    with pytest.raises(ValueError, match=r"model.norm=apex .* build apex"):
        BaichuanForCausalLM(small_config(norm="apex"))
    assert resolve_norm_backend("auto") == "torch"


def loss_and_grads(cfg, ids, labels):
    model = build(cfg).train()
    loss = model(ids, labels=labels)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("chunk", [1, 7, 16, 1000])
def test_chunked_loss_equals_naive_in_value_and_gradient(chunk):
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 97, (2, 16), generator=gen)
    labels = torch.randint(0, 97, (2, 16), generator=gen)
    labels[0, :6] = -100
    naive_loss, naive_grads = loss_and_grads(small_config(), ids, labels)
    loss, grads = loss_and_grads(small_config(loss_chunk_size=chunk), ids, labels)
    torch.testing.assert_close(loss, naive_loss, atol=1e-6, rtol=1e-6)
    for name, grad in naive_grads.items():
        torch.testing.assert_close(grads[name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_chunked_loss_keeps_no_logits_for_backward_and_matches_in_bf16():
    from pretrain.model.loss import causal_lm_loss

    gen = torch.Generator().manual_seed(8)
    hidden = torch.randn(1, 256, 32, generator=gen, requires_grad=True)
    weight = (torch.randn(3000, 32, generator=gen) * 0.1).requires_grad_()
    labels = torch.randint(0, 3000, (1, 256), generator=gen)

    def saved_bytes(chunk):
        return saved_tensor_bytes(lambda: causal_lm_loss(hidden, weight, labels, chunk))

    logits_bytes = 256 * 3000 * 4
    assert saved_bytes(0) >= logits_bytes  # the naive loss keeps fp32 log-probabilities
    assert saved_bytes(64) <= (256 * 32 + 3000 * 32) * 4  # chunked: only the two gradients it already formed
    results = []
    for chunk in (0, 64):  # bf16 training: value and both gradients agree with the naive loss
        h16 = hidden.detach().bfloat16().requires_grad_()
        w16 = weight.detach().bfloat16().requires_grad_()
        loss = causal_lm_loss(h16, w16, labels, chunk)
        loss.backward()
        assert w16.grad.dtype == torch.bfloat16
        results.append((loss.detach(), h16.grad.float(), w16.grad.float()))
    for naive, chunked in zip(*results):
        torch.testing.assert_close(chunked, naive, atol=2e-4, rtol=2e-2)


@pytest.mark.parametrize("every", [1, 2])
def test_activation_checkpointing_changes_nothing(every):
    ids = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(6))
    cfg = small_config(num_layers=3, position="alibi")
    base_loss, base_grads = loss_and_grads(cfg, ids, ids)
    cfg.activation_checkpointing = every
    loss, grads = loss_and_grads(cfg, ids, ids)
    assert loss.item() == base_loss.item()
    for name, grad in base_grads.items():
        torch.testing.assert_close(grads[name], grad, atol=1e-7, rtol=1e-6, msg=name)


def test_activation_checkpointing_saves_fewer_tensors_for_backward():
    """Count what autograd keeps alive between forward and backward: checkpointing every layer stores less."""

    def saved_bytes(every):
        model = build(small_config(num_layers=4, activation_checkpointing=every)).train()
        return saved_tensor_bytes(lambda: model(torch.randint(0, 97, (2, 32)), labels=torch.randint(0, 97, (2, 32))))

    assert saved_bytes(1) < 0.6 * saved_bytes(0)


@pytest.mark.slow
def test_compile_switch_keeps_parameter_names_and_outputs():
    ids = torch.randint(0, 97, (2, 8), generator=torch.Generator().manual_seed(7))
    plain, compiled = build(small_config()), build(small_config(compile=True))
    assert list(compiled.state_dict()) == list(plain.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids), plain(ids), atol=1e-5, rtol=1e-5)


def saved_tensor_bytes(forward) -> int:
    """Bytes of the tensors autograd saves for the backward while `forward()` runs."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        forward()
    return total
