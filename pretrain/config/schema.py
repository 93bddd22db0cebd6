"""The pretraining config, declared once as dataclasses.

`conf/` holds YAML defaults only; these dataclasses are registered in Hydra's ConfigStore so a typo'd key or a
value of the wrong type fails at composition time, naming the key, before any rank starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List  # noqa: UP035 - OmegaConf needs typing generics on py3.10

from hydra.core.config_store import ConfigStore

from pretrain.data import DataConfig
from pretrain.evaluation.config import EvaluationConfig
from pretrain.finetune.config import FinetuneConfig
from pretrain.model import ModelConfig


@dataclass
class StragglerConfig:
    """A rank whose own compute time (its forward passes, which no peer can hold up) exceeds the median rank's
    by more than `fraction` in `windows` consecutive windows of `window_steps` steps is reported as a straggler
    (incidents.jsonl, with its host). The times ride in the step statistics all-reduce: no collective of their
    own. fraction 0 = off (the times are still logged)."""

    fraction: float = 0.2
    window_steps: int = 20
    windows: int = 3


@dataclass
class TrainConfig:
    seed: int = 1234
    seq_len: int = 128
    micro_batch_size: int = 4
    # 0 = one micro batch per rank per step (no gradient accumulation).
    global_batch_size: int = 0
    max_steps: int = 100
    # Checkpoint and exit at this step although the schedule runs to max_steps (time-boxed allocations, the
    # demo's first half); 0 = run to max_steps.
    stop_at_step: int = 0
    # Optimizer (AdamW with decoupled weight decay; norms and biases are never decayed).
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 10
    schedule: str = "cosine"  # cosine | linear | constant
    weight_decay: float = 0.1
    decay_embeddings: bool = True
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float = 1e-8
    grad_clip: float = 1.0
    precision: str = "bf16"  # bf16 | fp16 | fp32
    # Checkpoints and recovery.
    checkpoint_dir: str = "checkpoints"
    save_interval: int = 50
    keep_last: int = 3
    keep_every: int = 0  # additionally keep every M-th step forever; 0 = off
    resume: str = "auto"  # auto | none | PATH of one checkpoint
    # On resume every rank re-digests the files it will load (XXH3-128, in parallel) besides checking their sizes;
    # a mismatch found by any rank makes every rank skip that checkpoint. false = sizes only (faster, misses bit rot).
    verify_checksums: bool = True
    # Write checkpoint bytes in a background thread while training continues (the step waits only for a copy of
    # the state in host memory); at most one save in flight; committed (manifest, rename, `latest`) at the first
    # step end at which every rank's bytes are fsynced. false = the step waits until the checkpoint is committed.
    async_save: bool = False
    # How long any collective may wait before the process group gives up on a rank (torch's NCCL default: 10
    # minutes). A verification, a save's rank-0 files or a slow filesystem can keep one rank busy while the others
    # wait in a collective; an aborted rank makes a supervised job restart that phase, possibly forever.
    dist_timeout_minutes: float = 60.0
    # Loss guard: skip a step whose loss is non-finite or above mean + spike_sigma × std of the recent window
    # (0 = spikes allowed); roll back to the previous checkpoint after max_bad_steps consecutive bad steps.
    spike_sigma: float = 6.0
    spike_min_history: int = 20
    max_bad_steps: int = 3
    straggler: StragglerConfig = field(default_factory=StragglerConfig)
    # Logging and evaluation cadence.
    log_interval: int = 1
    eval_interval: int = 0  # 0 = never
    eval_batches: int = 4


@dataclass
class DeepSpeedConfig:
    zero_stage: int = 2
    offload_optimizer: bool = False
    offload_param: bool = False
    # "auto" derives bucket sizes from world size and hidden size (see pretrain/engine.py); "fixed" uses the
    # sizes below as they are.
    buckets: str = "auto"
    reduce_bucket_size: int = 500_000_000
    allgather_bucket_size: int = 500_000_000
    prefetch_bucket_size: int = 50_000_000
    param_persistence_threshold: int = 100_000
    overlap_comm: bool = True
    contiguous_gradients: bool = True
    # ZeRO-3 only: parameters kept gathered at once and how soon a released parameter may be reused.
    max_live_parameters: int = 1_000_000_000
    max_reuse_distance: int = 1_000_000_000
    # fp16 only: dynamic loss scaling (loss_scale=0) starts at 2**initial_scale_power, halves on overflow
    # after `hysteresis` overflows, doubles after `loss_scale_window` clean steps, never below min_loss_scale.
    loss_scale: float = 0.0
    initial_scale_power: int = 16
    loss_scale_window: int = 1000
    hysteresis: int = 2
    min_loss_scale: float = 1.0
    steps_per_print: int = 1_000_000  # DeepSpeed's own console chatter; our metrics replace it


@dataclass
class LoggingConfig:
    run_dir: str = "runs/default"
    metrics_file: str = "metrics.jsonl"
    console: bool = True
    wandb: bool = False
    wandb_project: str = "baichuan-pretrain"
    wandb_mode: str = "offline"  # offline | online | disabled; offline is forced when no API key is set
    tensorboard: bool = False


@dataclass
class CommConfig:
    # Measure all-reduce / all-gather / reduce-scatter at start-up and size the buckets from the fit
    # (pretrain/distributed/buckets.py); needs deepspeed.buckets=auto.
    probe: bool = False
    # A bucket's fixed latency may cost at most this share of its transfer time.
    latency_share: float = 0.1
    probe_sizes_kib: List[int] = field(default_factory=lambda: [16, 256, 2048, 8192])  # noqa: UP006
    probe_repeats: int = 5


@dataclass
class ClusterConfig:
    num_gpus: int = 1
    gpu: str = "A800"


@dataclass
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)  # pretrain/evaluation/config.py
    comm: CommConfig = field(default_factory=CommConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # pretrain/finetune/config.py


def register_configs() -> None:
    """Register the schema so conf/pretrain.yaml's defaults list can start from it."""
    store = ConfigStore.instance()
    store.store(name="pretrain_schema", node=PretrainConfig)
