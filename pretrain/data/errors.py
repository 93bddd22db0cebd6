"""Errors a user can cause in the data section; each carries one line saying what is wrong and what to do.

Both are `UserError`s (one `error:` line, exit 2 from any command) and stay ValueErrors for callers that catch
those."""

from plumbing.user_error import UserError


class DataConfigError(UserError, ValueError):
    """The data config or the shards it names cannot form a mixture (bad weight, empty source, bad path)."""


class DataStateMismatchError(UserError, ValueError):
    """A saved loader state does not belong to this mixture (shards, weights, seed or seq_len changed)."""


class DataStateVersionError(DataStateMismatchError):
    """A saved loader state from another loader version, whose sample order this one does not reproduce."""
