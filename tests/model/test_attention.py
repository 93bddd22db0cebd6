"""Every attention backend available here equals the eager reference; ALiBi equals an independent bias matrix;
packed rows with document masking equal each document run alone."""

import logging
import math

import pytest
import torch

from pretrain.model import BaichuanForCausalLM
from pretrain.model.attention import AttentionMask, eager_attention, resolve_attention_backend, sdpa_attention
from pretrain.model.kernels import flash_attn_available
from pretrain.model.positions import alibi_slopes, document_positions

from .conftest import build, small_config


def independent_alibi_bias(num_heads: int, length: int) -> torch.Tensor:
    """[H, L, L] written from the ALiBi paper's definition, without the model's code."""
    def geometric(n):
        ratio = 2.0 ** (-8.0 / n)
        return [ratio ** (i + 1) for i in range(n)]
    base = 2 ** int(math.log2(num_heads))
    slopes = geometric(base) + geometric(2 * base)[::2][: num_heads - base]
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    bias = torch.stack([-s * (i - j).double() for s in slopes])
    return bias.masked_fill(j > i, float("-inf"))


def test_alibi_slopes_of_the_13b_head_count():
    slopes = alibi_slopes(40)
    assert slopes.shape == (40,)
    assert slopes[0].item() == pytest.approx(2 ** -0.25)
    assert slopes[31].item() == pytest.approx(2 ** -8)
    assert slopes[32:].tolist() == pytest.approx([2 ** (-0.125 * k) for k in range(1, 16, 2)])


@pytest.mark.parametrize("num_heads", [8, 40, 6])
def test_alibi_attention_equals_explicit_bias_matrix(num_heads):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 9, num_heads, 16, dtype=torch.float64) for _ in range(3))
    mask = AttentionMask(alibi_slopes=alibi_slopes(num_heads))
    bias = independent_alibi_bias(num_heads, 9)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / 4.0 + bias
    expected = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v)
    for backend in (eager_attention, sdpa_attention):
        torch.testing.assert_close(backend(q.float(), k.float(), v.float(), mask).double(), expected,
                                   atol=1e-5, rtol=1e-5)


def cpu_backends():
    return ["eager", "sdpa"] + (["flash"] if flash_attn_available() else [])


def mask_cases():
    docs = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2], [5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6]])
    return [
        pytest.param("rope", None, id="rope-causal"),
        pytest.param("rope", docs, id="rope-documents"),
        pytest.param("alibi", None, id="alibi-causal"),
        pytest.param("alibi", docs, id="alibi-documents"),
    ]


@pytest.mark.parametrize(("position", "doc_ids"), mask_cases())
def test_every_available_backend_equals_eager(position, doc_ids):
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(1))
    reference = build(small_config(position=position, attention="eager"))(ids, doc_ids=doc_ids)
    for backend in cpu_backends():
        logits = build(small_config(position=position, attention=backend))(ids, doc_ids=doc_ids)
        torch.testing.assert_close(logits, reference, atol=2e-5, rtol=1e-4, msg=backend)


@pytest.mark.slow
def test_flex_attention_equals_eager_with_alibi_and_documents():
    """FlexAttention needs torch.compile on CPU (~25 s), so this is the single flex test (forward only: torch's
    CPU FlexAttention has no backward)."""
    docs = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2]])
    ids = torch.randint(0, 97, (1, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = build(small_config(position="alibi", attention="eager"))(ids, doc_ids=docs)
        logits = build(small_config(position="alibi", attention="flex"))(ids, doc_ids=docs)
    torch.testing.assert_close(logits, reference, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("position", ["rope", "alibi"])
@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_packed_row_equals_each_document_alone(position, attention):
    model = build(small_config(position=position, attention=attention))
    lengths = [5, 7, 4]
    documents = [torch.randint(3, 97, (1, n), generator=torch.Generator().manual_seed(n)) for n in lengths]
    packed = torch.cat(documents, dim=1)
    doc_ids = torch.cat([torch.full((1, n), i) for i, n in enumerate(lengths)], dim=1)
    packed_logits = model(packed, doc_ids=doc_ids)
    alone = torch.cat([model(doc) for doc in documents], dim=1)
    torch.testing.assert_close(packed_logits, alone, atol=2e-5, rtol=1e-4)
    # Without document masking the later documents do see the earlier ones.
    assert not torch.allclose(model(packed)[:, 5:], alone[:, 5:], atol=1e-3)


def test_document_positions_restart_per_document():
    docs = torch.tensor([[0, 0, 1, 1, 1, 2], [4, 4, 4, 4, 4, 4]])
    assert document_positions(docs).tolist() == [[0, 1, 0, 1, 2, 0], [0, 1, 2, 3, 4, 5]]


def test_flash_without_flash_attn_is_one_clear_error_and_auto_falls_back(caplog):
    if flash_attn_available():
        pytest.skip("flash-attn is available here")
    with pytest.raises(ValueError, match=r"model.attention=flash cannot run here: .* use model.attention=auto"):
        BaichuanForCausalLM(small_config(attention="flash"))
    with caplog.at_level(logging.INFO, logger="pretrain.model"):
        model = BaichuanForCausalLM(small_config(attention="auto"))
    assert model.attention_backend == "sdpa"
    assert "flash-attn is not available" in caplog.text
    assert resolve_attention_backend("eager") == "eager"
