"""Benchmark evaluation inside training, every `evaluation.interval` steps, into the metrics stream.

    eval/ppl/<source>, eval/loss/<source>     held-out loss per source (pretrain.evaluation.perplexity)
    eval/ppl/lang/<lang>                      token-weighted per language
    eval/mc/<method>                          few-shot multiple-choice accuracy, average over subjects

Every rank takes part (under ZeRO-3 a forward gathers parameters, a collective): perplexity splits the held-out
batches over ranks and all-reduces the sums; multiple choice runs the same items on every rank, so keep
`evaluation.mc_max_items` small. The benchmark and tokenizer are read once at train start, so a bad
`evaluation.mc_data_dir` stops the run before the first step rather than at the first evaluation.
"""

from __future__ import annotations

import sentencepiece as spm
import torch

from data_pipeline.tokenizer.document_start import document_prefix
from pretrain.callbacks.base import Callback, TrainerView
from pretrain.callbacks.validation import device_all_reduce
from pretrain.evaluation.config import EvaluationConfig
from pretrain.evaluation.mc_data import load_benchmark
from pretrain.evaluation.mc_eval import evaluate_multiple_choice
from pretrain.evaluation.mc_scoring import METHODS
from pretrain.evaluation.perplexity import held_out_losses, per_language


class BenchmarkEvalCallback(Callback):
    def __init__(self, config: EvaluationConfig, tokenizer_path: str):
        self.config = config
        self.tokenizer_path = tokenizer_path
        self.benchmark = self.tokenizer = None

    def on_train_start(self, trainer: TrainerView) -> None:
        if not self.config.mc_data_dir:
            return
        if not self.tokenizer_path:
            raise FileNotFoundError("evaluation.mc_data_dir needs data.tokenizer (the SentencePiece model) — set it")
        self.benchmark = load_benchmark(self.config.mc_data_dir, list(self.config.subjects) or None)
        self.tokenizer = spm.SentencePieceProcessor(model_file=self.tokenizer_path)

    def on_step_end(self, trainer: TrainerView) -> dict | None:
        if self.config.interval <= 0 or trainer.state.step % self.config.interval:
            return None
        module, device = trainer.engine.module, trainer.engine.device
        was_training = module.training
        module.eval()
        try:
            return self._evaluate(trainer, module, device)
        finally:
            module.train(was_training)

    @torch.no_grad()
    def _evaluate(self, trainer: TrainerView, module, device) -> dict:
        metrics: dict[str, float] = {}
        # The engine's forward: the training step's device transfer and document masking (loader cu_seqlens).
        per_source = held_out_losses(trainer.engine.forward, trainer.loader, self.config.ppl_batches, device_all_reduce(device))
        for r in per_source:
            metrics[f"eval/loss/{r.name}"] = r.loss
            metrics[f"eval/ppl/{r.name}"] = r.perplexity
        for r in per_language(trainer.loader, per_source):
            metrics[f"eval/ppl/lang/{r.name}"] = r.perplexity
        if self.benchmark is not None:
            cfg = trainer.config
            results = evaluate_multiple_choice(module, self.tokenizer, self.benchmark, shots=self.config.shots,
                                               max_len=cfg.model.max_seq_len, split=self.config.split,
                                               max_items=self.config.mc_max_items,
                                               prefix=document_prefix(self.tokenizer.eos_id()), device=device)
            metrics.update({f"eval/mc/{m}": results.average(m) for m in METHODS})
        return metrics
