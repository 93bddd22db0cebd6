"""Where metrics go: console, a JSONL file, wandb (offline without an API key), TensorBoard.

Only global rank 0 writes. The JSONL file is the source of truth: on resume it is cut back to the resumed
step, so a run that crashed and resumed has exactly one record per step, like an uninterrupted one.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
from pathlib import Path

from plumbing.atomic_write import atomic_write_text
from pretrain.config import LoggingConfig

log = logging.getLogger(__name__)

_SECRET_HINTS = ("key", "token", "secret", "password", "credential")
_MIN_SECRET_LENGTH = 8  # shorter environment values ("1", "true", "cpu") would redact harmless words


def _secret_values() -> list[str]:
    """Values of environment variables whose names look like credentials (WANDB_API_KEY, HF_TOKEN, ...)."""
    return [value for name, value in os.environ.items()
            if _is_secret_key(name) and len(value) >= _MIN_SECRET_LENGTH]


def _scrub(config, secrets: list[str] | None = None):
    """Never ship credentials to a metrics backend, whatever a user put in the config: values under keys that
    look like credentials become "***", and any credential from the environment is cut out of every string
    (a token pasted into a URL or path)."""
    secrets = _secret_values() if secrets is None else secrets
    if isinstance(config, dict):
        return {key: "***" if _is_secret_key(key) and isinstance(value, str) and value else _scrub(value, secrets)
                for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [_scrub(value, secrets) for value in config]
    if isinstance(config, str):
        for secret in secrets:
            config = config.replace(secret, "***")
    return config


def _is_secret_key(key) -> bool:
    """`api_key`, `HF_TOKEN`, `db-password` are; `tokenizer` and `keep_last` are not (whole words only)."""
    return isinstance(key, str) and any(word in _SECRET_HINTS for word in re.split(r"[^a-z0-9]+", key.lower()))


class MetricsLogger:
    def __init__(self, cfg: LoggingConfig, rank: int, run_config: dict | None = None):
        self.cfg = cfg
        self.enabled = rank == 0
        self.path = Path(cfg.run_dir) / cfg.metrics_file
        self._wandb = None
        self._tensorboard = None
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if cfg.wandb:
            self._wandb = self._start_wandb(run_config or {})
        if cfg.tensorboard:
            self._tensorboard = _start_tensorboard(Path(cfg.run_dir) / "tensorboard")

    def _start_wandb(self, run_config: dict):
        import wandb  # lazy: optional, ~1.3 s to import; only logging.wandb=true needs it

        mode = self.cfg.wandb_mode
        if mode == "online" and not os.environ.get("WANDB_API_KEY"):
            log.warning("wandb: no WANDB_API_KEY set, logging offline instead")
            mode = "offline"
        mode = os.environ.get("WANDB_MODE", mode)
        return wandb.init(
            project=self.cfg.wandb_project,
            dir=self.cfg.run_dir,
            mode=mode,
            config=_scrub(run_config),
            resume="allow",
        )

    def truncate_after(self, step: int) -> None:
        """Drop records past `step` (written by an attempt that crashed before its next checkpoint)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if json.loads(line).get("step", 0) <= step]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def log(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        record = {"step": step, **metrics}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.cfg.console:
            shown = " ".join(f"{k}={_fmt(v)}" for k, v in metrics.items() if not isinstance(v, dict))
            log.info("step %d %s", step, shown)
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)
        if self._tensorboard is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)):
                    self._tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        if self._wandb is not None:
            self._wandb.finish()
        if self._tensorboard is not None:
            self._tensorboard.close()


def tensorboard_available() -> bool:
    """TensorBoard is optional: torch's SummaryWriter needs the `tensorboard` package."""
    return importlib.util.find_spec("tensorboard") is not None


def _start_tensorboard(log_dir: Path):
    if not tensorboard_available():
        log.warning("logging.tensorboard=true but the tensorboard package is not installed (pip install "
                    "tensorboard); metrics go to the console, JSONL and wandb only")
        return None
    from torch.utils.tensorboard import SummaryWriter  # lazy: needs the optional tensorboard package

    return SummaryWriter(log_dir=str(log_dir))


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
