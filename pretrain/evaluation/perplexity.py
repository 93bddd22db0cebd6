"""Held-out loss and perplexity per data source and per language.

The held-out documents are the loader's validation split (`data.validation_fraction`, chosen by seed), so a
checkpoint evaluated with the data config it trained on is scored on documents it never saw. A source's
language is the one holding most of its tokens (from the shard manifests); a language's loss is the
token-weighted mean over its sources.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pretrain.data import PretrainDataLoader

LossFn = Callable[[dict], torch.Tensor]  # batch -> mean token loss (a scalar tensor)


@dataclass
class HeldOutLoss:
    name: str  # a source name, or a language code
    tokens: int
    loss: float  # mean over tokens, nats
    batches: int = 0  # held-out batches scored: fewer than asked when the split is small

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))


def source_language(loader: PretrainDataLoader, source_name: str) -> str:
    source = next(s for s in loader.sources if s.name == source_name)
    totals: dict[str, int] = {}
    for manifest in source.shards.manifests:
        for lang, counts in manifest.totals_by("languages").items():
            totals[lang] = totals.get(lang, 0) + counts.tokens
    return max(totals.items(), key=lambda kv: (kv[1], kv[0]))[0] if totals else "unknown"


@torch.no_grad()
def held_out_losses(loss_fn: LossFn, loader: PretrainDataLoader, max_batches: int,
                    all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[HeldOutLoss]:
    """Loss per source on up to `max_batches` held-out global batches (this rank's share, summed over ranks by
    `all_reduce` when given). Sources without held-out documents are left out."""
    results = []
    for source in loader.sources:
        totals = torch.zeros(2, dtype=torch.float64)  # (loss * tokens, tokens)
        batches = 0
        for batch in loader.validation_batches(source.name, max_batches):
            tokens = int((batch["labels"] != -100).sum())
            totals += torch.tensor([float(loss_fn(batch)) * tokens, tokens], dtype=torch.float64)
            batches += 1
        if all_reduce is not None:
            totals = all_reduce(totals)
        if totals[1] > 0:
            results.append(HeldOutLoss(source.name, int(totals[1]), float(totals[0] / totals[1]), batches))
    return results


def per_language(loader: PretrainDataLoader, per_source: list[HeldOutLoss]) -> list[HeldOutLoss]:
    grouped: dict[str, list[HeldOutLoss]] = {}
    for result in per_source:
        grouped.setdefault(source_language(loader, result.name), []).append(result)
    return [
        HeldOutLoss(lang, sum(r.tokens for r in rs), sum(r.loss * r.tokens for r in rs) / sum(r.tokens for r in rs),
                    sum(r.batches for r in rs))
        for lang, rs in sorted(grouped.items())
    ]


def perplexity_table(per_source: list[HeldOutLoss], languages: list[HeldOutLoss]) -> str:
    width = max([len("source")] + [len(r.name) for r in per_source + languages])
    head = f"{'source':<{width}} {'tokens':>10} {'loss':>8} {'ppl':>10}"
    lines = [head, "-" * len(head)]
    lines += [f"{r.name:<{width}} {r.tokens:>10,} {r.loss:>8.4f} {r.perplexity:>10.2f}" for r in per_source]
    lines.append(f"{'language':<{width}}")
    lines += [f"{r.name:<{width}} {r.tokens:>10,} {r.loss:>8.4f} {r.perplexity:>10.2f}" for r in languages]
    return "\n".join(lines)


def perplexity_json(per_source: list[HeldOutLoss], languages: list[HeldOutLoss]) -> dict:
    def row(r: HeldOutLoss) -> dict:
        return {"tokens": r.tokens, "batches": r.batches, "loss": r.loss, "perplexity": r.perplexity}

    return {"sources": {r.name: row(r) for r in per_source}, "languages": {r.name: row(r) for r in languages}}
