"""Evaluation: held-out perplexity per source and language, and few-shot multiple choice (C-Eval/CMMLU/MMLU)."""

from pretrain.evaluation.config import EvaluationConfig
from pretrain.evaluation.mc_data import McBenchmark, McItem, McSubject, load_benchmark
from pretrain.evaluation.mc_eval import McResults, evaluate_multiple_choice
from pretrain.evaluation.mc_scoring import METHODS, score_item
from pretrain.evaluation.perplexity import HeldOutLoss, held_out_losses, per_language, perplexity_table

__all__ = [
    "METHODS",
    "EvaluationConfig",
    "HeldOutLoss",
    "McBenchmark",
    "McItem",
    "McResults",
    "McSubject",
    "evaluate_multiple_choice",
    "held_out_losses",
    "load_benchmark",
    "per_language",
    "perplexity_table",
    "score_item",
]
