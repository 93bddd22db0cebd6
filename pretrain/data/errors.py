"""Errors a user can cause in the data section; each carries one line saying what is wrong and what to do."""


class DataConfigError(ValueError):
    """The data config or the shards it names cannot form a mixture (bad weight, empty source, bad path)."""


class DataStateMismatchError(ValueError):
    """A saved loader state does not belong to this mixture (shards, weights, seed or seq_len changed)."""
