"""What the loop carries from step to step besides the engine; saved as JSON in every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainerState:
    step: int = 0
    consumed_tokens: int = 0
    data: dict = field(default_factory=dict)  # the loader's state_dict: global sample position, mixture, seed
    loss_window: list = field(default_factory=list)  # recent good losses, for the loss guard's spike test
    world_size: int = 1  # who wrote the checkpoint: another world size or ZeRO stage resumes via universal
    zero_stage: int = 0


@dataclass(frozen=True)
class StepResult:
    """One optimizer step as the loop saw it (every rank sees the same values: they are all-reduced)."""

    loss: float  # data-parallel mean over the step's micro batches
    verdict: str | None  # None when applied, else why not: nonfinite_loss, loss_spike, nonfinite_grad
    learning_rate: float  # the rate this step applied (or would have)
    grad_norm: float  # global, before clipping; non-finite on a skipped nonfinite_grad step
    data_fingerprint: int  # equal across two runs ⇔ same samples in the same order
    stop_requested: bool = False  # some rank was asked to stop: every rank saves and exits after this step
    save_pending: bool = False  # some rank was still writing the async save in flight when the step reduced
    nonfinite_loss_ranks: list = field(default_factory=list)  # ranks whose own micro loss was non-finite
    nonfinite_grad_ranks: list = field(default_factory=list)  # ranks whose gradient share was (after reduction)
    window: object = None  # a straggler WindowReport when this step closed a window (pretrain/stability/straggler.py)

    @property
    def nonfinite_ranks(self) -> list:
        """The ranks to blame: a non-finite loss is its rank's own; a gradient share may hold a peer's NaN."""
        return self.nonfinite_loss_ranks or self.nonfinite_grad_ranks
