"""Refuse to resume under a config that changes what is being trained.

A resume may change how the run is operated (steps, logging, checkpoint cadence, kernels, bucket sizes) but
not what it computes (model shape, data mixture, optimizer hyper-parameters other than the peak lr).
"""

from __future__ import annotations

from omegaconf import OmegaConf

# Keys a resumed run may change; an entry ending in '.' allows a whole group.
ALLOWED_CHANGES = (
    "train.max_steps",
    "train.stop_at_step",
    "train.lr",
    "train.min_lr_ratio",
    "train.save_interval",
    "train.keep_last",
    "train.keep_every",
    "train.resume",
    "train.verify_checksums",
    "train.async_save",
    "train.dist_timeout_minutes",
    "train.straggler.",  # thresholds of the straggler report: operational, like the log interval
    "train.log_interval",
    "train.eval_interval",
    "train.eval_batches",
    "train.checkpoint_dir",
    "logging.",
    "evaluation.",
    "cluster.",
    "comm.",
    "deepspeed.",
    "model.attention",
    "model.norm",
    "model.compile",
    "model.activation_checkpointing",
    "model.loss_chunk_size",
)


def _flatten(node, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
    else:
        flat[prefix.rstrip(".")] = node
    return flat


def config_changes(saved_yaml: str, current_yaml: str) -> list[tuple[str, object, object]]:
    """Keys whose value differs. A key the saved config lacks was added to the schema by a later version of
    this code (with its default); that is an upgrade, not a change of the run, so it is not reported."""
    saved = _flatten(OmegaConf.to_container(OmegaConf.create(saved_yaml), resolve=True))
    current = _flatten(OmegaConf.to_container(OmegaConf.create(current_yaml), resolve=True))
    return [(key, saved[key], current.get(key)) for key in sorted(saved) if saved[key] != current.get(key)]


def disallowed_changes(saved_yaml: str, current_yaml: str) -> list[str]:
    """Lines `key: old -> new` for every change outside ALLOWED_CHANGES."""
    return [
        f"{key}: {old!r} -> {new!r}"
        for key, old, new in config_changes(saved_yaml, current_yaml)
        if not _allowed(key)
    ]


def _allowed(key: str) -> bool:
    return any(key == entry or (entry.endswith(".") and key.startswith(entry)) for entry in ALLOWED_CHANGES)
