"""Evaluation settings shared by the `pretrain.evaluation` CLI and the in-training callback (`evaluation:` node of
the pretraining config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List  # noqa: UP035 - OmegaConf needs typing generics on py3.10

from plumbing.user_error import ConfigError


@dataclass
class EvaluationConfig:
    # Run the evaluations every this many optimizer steps during training; 0 = never.
    interval: int = 0
    # Perplexity: held-out global batches per source (the loader's validation split).
    ppl_batches: int = 4
    # Multiple choice: a C-Eval / CMMLU / MMLU directory; empty = no multiple-choice evaluation.
    mc_data_dir: str = ""
    shots: int = 5
    split: str = "auto"  # auto (test when labelled, else val) | test | val | dev
    mc_max_items: int = 0  # per subject; 0 = all (in training keep it small: every rank scores every item)
    subjects: List[str] = field(default_factory=list)  # noqa: UP006 - empty = every subject found


SPLITS = ("auto", "test", "val", "dev")


def check_evaluation_config(evaluation: EvaluationConfig) -> None:
    """One-line errors for the `evaluation:` node (called by the training config's validation)."""
    for key, least in (("interval", 0), ("ppl_batches", 1), ("shots", 0), ("mc_max_items", 0)):
        if getattr(evaluation, key) < least:
            raise ConfigError(f"evaluation.{key}={getattr(evaluation, key)} must be >= {least}")
    if evaluation.split not in SPLITS:
        raise ConfigError(f"evaluation.split={evaluation.split!r} is not one of {', '.join(SPLITS)}")
