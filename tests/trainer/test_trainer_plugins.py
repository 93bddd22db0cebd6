"""Trainer plugins are loaded from BAICHUAN_TRAINER_PLUGINS; a bad entry is one clear error."""

from __future__ import annotations

import pytest

from plumbing.user_error import UserError
from pretrain.training.plugins import PLUGINS_ENV, apply_plugins

CALLS: list[tuple] = []


def record(parts, config, rank):  # a plugin: receives the parts before the loop is built
    CALLS.append((parts, config, rank))


def test_plugins_named_in_the_environment_receive_the_parts_in_order():
    CALLS.clear()
    spec = f"{__name__}:record, {__name__}:record"
    apply_plugins("parts", "config", 3, environ={PLUGINS_ENV: spec})
    assert CALLS == [("parts", "config", 3)] * 2


def test_no_variable_no_plugin():
    CALLS.clear()
    apply_plugins("parts", "config", 0, environ={})
    assert CALLS == []


@pytest.mark.parametrize("spec", ["no_such_module_xyz:install", f"{__name__}:no_such_function"])
def test_an_unloadable_plugin_is_a_one_line_user_error(spec):
    with pytest.raises(UserError, match=rf"{PLUGINS_ENV}: cannot load '{spec}'"):
        apply_plugins("parts", "config", 0, environ={PLUGINS_ENV: spec})
