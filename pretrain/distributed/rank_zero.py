"""Long work that only rank 0 does, with the other ranks waiting outside any collective.

A rank that waits in a collective (a barrier, a broadcast) is on the process group's clock: past
`train.dist_timeout_minutes` the watchdog kills it, and a supervised job restarts into the same wait. Converting
a checkpoint to the universal format or opening a fine-tune's initial weights can take rank 0 longer than that.
So rank 0 posts the outcome under a key in the process group's key-value store (the rendezvous TCPStore: a
plain key, no collective, no timeout while nobody reads it) and the other ranks poll for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch.distributed as dist

log = logging.getLogger(__name__)

OK = "ok"
_rounds: dict[tuple[int, str], int] = {}  # (rank, key) → calls so far (one rank per process, but tests use threads)


def default_store():
    """The process group's store, or None without a group (one process: nobody waits)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return dist.distributed_c10d._get_default_store()


def on_rank_zero(key: str, work: Callable[[], str | None], rank: int, store=None, poll_s: float = 1.0,
                 what: str = "rank 0's work") -> str | None:
    """`work()` on rank 0 (None, or a problem every rank must report); the same answer on every rank. An error
    raised on rank 0 is raised there and reaches the others as a RuntimeError naming it.

    Every rank calls this in the same order (like a collective), so the n-th call with `key` is the same round
    on every rank: the key is numbered by it, and a second round (another engine built in the same process
    group) never reads the first round's answer."""
    store = store if store is not None else default_store()
    round_ = _rounds[(rank, key)] = _rounds.get((rank, key), -1) + 1
    key = f"{key}#{round_}"
    if rank == 0:
        try:
            problem = work()
        except Exception as exc:
            if store is not None:
                store.set(key, f"failed: {type(exc).__name__}: {str(exc)[-500:]}")
            raise
        if store is not None:
            store.set(key, OK if problem is None else f"problem: {problem}")
        return problem
    if store is None:
        return None
    outcome = wait_for_key(store, key, poll_s, what)
    if outcome.startswith("failed: "):
        raise RuntimeError(f"{what} failed on rank 0: {outcome.removeprefix('failed: ')}")
    return None if outcome == OK else outcome.removeprefix("problem: ")


def wait_for_key(store, key: str, poll_s: float, what: str) -> str:
    """Poll `store` until rank 0 sets `key`; a log line every ten minutes says what this rank waits for."""
    started = last_said = time.monotonic()
    while not store.check([key]):
        time.sleep(poll_s)
        if time.monotonic() - last_said > 600:
            last_said = time.monotonic()
            log.info("waiting for %s (%.0f min)", what, (last_said - started) / 60)
    return store.get(key).decode()
