"""`build_trainer(config, rank, world_size)`: the real parts, assembled in the order that fails fastest, then
handed to the loop."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from pretrain.callbacks import build_callbacks
from pretrain.checkpoint import CheckpointStore
from pretrain.checkpoint.resume_plan import plan_resume
from pretrain.config import PretrainConfig, to_yaml
from pretrain.data import PretrainDataLoader
from pretrain.distributed.collectives import Collectives
from pretrain.engine import build_step_engine
from pretrain.finetune.instruction_data import InstructionLoader
from pretrain.heartbeat import Heartbeat
from pretrain.incidents import INCIDENTS_FILE
from pretrain.metrics import MetricsLogger
from pretrain.metrics.throughput import ThroughputMeter
from pretrain.stability import LossGuard
from pretrain.stability.straggler import StragglerDetector
from pretrain.training.loop import Trainer, TrainerParts
from pretrain.training.plugins import apply_plugins
from pretrain.training.stop_signal import StopSignal


def build_loader(config: PretrainConfig, rank: int, world_size: int):
    """Token shards for pretraining; packed instruction examples for a fine-tune (same interface)."""
    train = config.train
    if config.finetune.init_from:
        return InstructionLoader(list(config.finetune.data), config.data.tokenizer, train.seq_len,
                                 train.micro_batch_size, rank, world_size, seed=config.data.seed,
                                 pad_id=config.model.pad_token_id)
    return PretrainDataLoader(config.data, seq_len=train.seq_len, micro_batch_size=train.micro_batch_size,
                              dp_rank=rank, dp_size=world_size)


def build_trainer(config: PretrainConfig, rank: int, world_size: int) -> Trainer:
    train = config.train
    straggler = StragglerDetector.from_config(train.straggler)  # a bad setting fails before anything is built
    # The loader first: it is cheap, and a wrong data path should fail in a second, not after engine setup.
    loader = build_loader(config, rank, world_size)
    store = CheckpointStore(train.checkpoint_dir, train.keep_last, train.keep_every, checksums=train.verify_checksums,
                            background=train.async_save)
    # Decide what to resume from before building the engine: another world size needs the universal
    # checkpoint, which DeepSpeed must be told about at initialisation.
    resume_plan = plan_resume(store, config, to_yaml(config), rank, world_size)
    engine = build_step_engine(config, world_size, load_universal=resume_plan.universal,
                               checkpoint_writer=store.writer)
    metrics = MetricsLogger(config.logging, rank, run_config=asdict(config))
    parts = TrainerParts(
        engine=engine,
        loader=loader,
        store=store,
        resume_plan=resume_plan,
        metrics=metrics,
        guard=LossGuard(train.spike_sigma, train.spike_min_history, train.max_bad_steps),
        throughput=ThroughputMeter(config.model, train.seq_len, world_size, precision=train.precision,
                                   gpu=config.cluster.gpu),
        collectives=Collectives(engine.device),
        incidents_path=Path(config.logging.run_dir) / INCIDENTS_FILE,
        # The beats name the run's other traces of progress, for the supervisor's incident record.
        heartbeat=Heartbeat.from_env(checkpoint_dir=Path(train.checkpoint_dir), metrics_file=metrics.path),
        stop=StopSignal(),
        callbacks=build_callbacks(config),
        straggler=straggler,
    )
    apply_plugins(parts, config, rank)
    return Trainer(config, rank, world_size, parts)
