"""Trainer plugins: functions that receive the assembled `TrainerParts` before the loop starts and may wrap
the engine or add callbacks — for drills and tests (fault injection, NaN poisoning: tests/faults/), or a
site's own hooks, without a config key or a branch in the loop.

    BAICHUAN_TRAINER_PLUGINS="package.module:function[,other.module:function]" python -m pretrain.train ...

Unset, this is one environment lookup per launch.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping

from plumbing.user_error import UserError

log = logging.getLogger(__name__)

PLUGINS_ENV = "BAICHUAN_TRAINER_PLUGINS"


def apply_plugins(parts, config, rank: int, environ: Mapping[str, str] = os.environ) -> None:
    for spec in filter(None, (item.strip() for item in environ.get(PLUGINS_ENV, "").split(","))):
        module_name, _, function_name = spec.partition(":")
        try:
            plugin = getattr(importlib.import_module(module_name), function_name or "install")
        except (ImportError, AttributeError) as exc:
            raise UserError(f"{PLUGINS_ENV}: cannot load {spec!r} ({exc}) — expected module:function "
                            "importable on every rank") from None
        if rank == 0:
            log.warning("trainer plugin %s installed", spec)
        plugin(parts, config, rank)
