"""Write learned mixing weights as a data config the trainer takes as is (`data=learned`).

Each source keeps its path and gets `target_fraction` = its learned weight (DoReMi's weights are sampling
probabilities over domains, exactly what `target_fraction` means); the rest of the data config (tokenizer, seed,
masking, validation split) is carried over. The header records how the weights were learned.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from omegaconf import OmegaConf

from plumbing.atomic_write import atomic_write_bytes
from pretrain.data import DataConfig
from pretrain.mixing.doremi import DoReMiResult

DIGITS = 6


def rounded_fractions(weights: list[float]) -> list[float]:
    """Rounded to DIGITS decimals, positive, summing to 1 to within 1e-9 (the last absorbs the remainder)."""
    unit = 10.0**-DIGITS
    rounded = [max(unit, round(w / sum(weights), DIGITS)) for w in weights]
    largest = max(range(len(rounded)), key=rounded.__getitem__)
    rounded[largest] = round(1.0 - (sum(rounded) - rounded[largest]), DIGITS)
    return rounded


def learned_data_config(data: DataConfig, result: DoReMiResult) -> DataConfig:
    fractions = dict(zip(result.domains, rounded_fractions(result.weights)))
    sources = [
        replace(s, weight=None, target_fraction=fractions[s.name or s.path]) for s in data.sources
    ]
    return replace(data, sources=sources)


def write_learned_config(data: DataConfig, result: DoReMiResult, output: str | Path, command: str) -> Path:
    config = learned_data_config(data, result)
    header = [
        "# Learned data-mixing weights (DoReMi), written by:",
        f"#   {command}",
        "# domain: initial -> learned (time-averaged) | mean excess loss | reference / proxy loss",
    ]
    header += [
        f"#   {name}: {init:.4f} -> {w:.4f} | {ex:.4f} | {ref:.4f} / {proxy:.4f}"
        for name, init, w, ex, ref, proxy in zip(result.domains, result.initial, result.weights,
                                                 result.mean_excess, result.reference_loss, result.proxy_loss)
    ]
    header.append("# Schema: pretrain/data/config.py (DataConfig); doc: docs/mixing.md.")
    body = OmegaConf.to_yaml(OmegaConf.structured(config))
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, ("\n".join(header) + "\n" + body).encode("utf-8"))
    return path
