"""Errors of the data pipeline's input, and the user-error type every command shares.

A `UserError` (defined in `plumbing.user_error`, re-exported here for the pipeline's modules) is printed as
``error: <what is wrong> — <what to do>`` and the process exits 2; anything else is a bug and keeps its
traceback. A `UnreadableShardError` is per input file: the executor records it in ``stats.json`` and the run
goes on.
"""

from __future__ import annotations

from plumbing.user_error import UserError, exit_on_user_error

__all__ = ["ShardFailedError", "UnreadableShardError", "UserError", "exit_on_user_error"]


class UnreadableShardError(Exception):
    """An input file that cannot be opened or parsed at all (not a single bad record)."""


class ShardFailedError(RuntimeError):
    """A bug met while a shard ran (bad input is a rejected record, never this): the message names the input
    file, the stage and the record it was on, so the failure can be reproduced on that record alone. The shard
    leaves no output and no marker; shards that finished keep theirs, so a rerun redoes only the failed ones."""
