"""The gradient's sum of squares: within 1e-6 (relative) of an exact sum (the logged norm's tolerance), for
every length around the row edges, any floating dtype, and non-finite when an element is."""

import math

import pytest
import torch

from pretrain.engine.deepspeed_grad_norm import ROW, square_sum


def _exact(tensor: torch.Tensor) -> float:
    return math.fsum(float(value) ** 2 for value in tensor.double().reshape(-1).tolist())


@pytest.mark.parametrize("length", [0, 1, ROW - 1, ROW, ROW + 1, 7 * ROW + 13, 300 * ROW])
def test_square_sum_matches_an_exact_sum_at_every_row_edge(length):
    generator = torch.Generator().manual_seed(length)
    # Magnitudes over eight decades, as gradients of embeddings and norms mix them.
    values = torch.randn(length, generator=generator) * 10.0 ** torch.randint(-6, 2, (length,), generator=generator)
    result = square_sum(values)
    assert result.dtype == torch.float64
    expected = _exact(values)
    assert float(result) == pytest.approx(expected, rel=1e-6, abs=1e-300)  # fp32 rows: ~1e-7 measured


def test_square_sum_reads_bf16_and_2d_gradients():
    values = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    assert float(square_sum(values)) == pytest.approx(_exact(values), rel=1e-6)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("position", [0, ROW * 3 + 1, ROW * 4 + 2])  # in a row, and in the tail past the rows
def test_one_non_finite_element_makes_the_sum_non_finite(bad, position):
    values = torch.ones(ROW * 4 + 3)
    values[position] = bad
    assert not math.isfinite(float(square_sum(values)))
