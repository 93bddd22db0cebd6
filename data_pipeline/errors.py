"""Errors a user can cause, and the one-line exit they get.

A `UserError` is printed as ``error: <what is wrong> — <what to do>`` and the process exits 2; anything else is
a bug and keeps its traceback. A `UnreadableShardError` is per input file: the executor records it in
``stats.json`` and the run goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps

USER_ERROR_EXIT_CODE = 2


class UserError(Exception):
    """A problem the user can fix (bad path, bad config value); the message says what to do."""

    def __init__(self, what: str, fix: str):
        super().__init__(f"{what} — {fix}")


class UnreadableShardError(Exception):
    """An input file that cannot be opened or parsed at all (not a single bad record)."""


class ShardFailedError(RuntimeError):
    """A bug met while a shard ran (bad input is a rejected record, never this): the message names the input
    file, the stage and the record it was on, so the failure can be reproduced on that record alone. The shard
    leaves no output and no marker; shards that finished keep theirs, so a rerun redoes only the failed ones."""


def exit_on_user_error(main: Callable) -> Callable:
    """Wrap a CLI entry point: a UserError becomes one stderr line and exit code 2."""

    @wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT_CODE)

    return wrapper
