"""Training metrics: sinks (console, JSONL, wandb, TensorBoard) and throughput accounting."""

from pretrain.metrics.sinks import MetricsLogger

__all__ = ["MetricsLogger"]
