"""One rank's share of a checkpoint: written, digested on the way, fsynced — now, or in a background thread.

The step engine hands every state dict it saves to `write_state` (DeepSpeed through
`pretrain/engine/deepspeed_checkpoint_io.py`); the store writes its small JSON files with `write_bytes`. Each file
goes through `plumbing.atomic_write` (temporary sibling, fsync, rename) and its size and XXH3-128 digest are
recorded from the bytes as they pass, so the manifest is built from what the ranks report and nobody reads the
checkpoint back.

With `background=True` (`train.async_save`) `write_state` takes a snapshot — every tensor copied to host memory,
so the next optimizer step cannot change what is being written — and a single thread serializes, writes and
fsyncs it while training goes on. `done()` says whether every queued file is durable; `wait()` blocks until it
is. The store commits a checkpoint only after every rank's `wait()` (see store.py).
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from plumbing.atomic_write import atomic_open, atomic_write_bytes
from pretrain.checkpoint.digest import DIGEST, DigestingFile, IoTimes, digest_bytes


@dataclass
class WrittenShare:
    """What one rank wrote into one checkpoint: relative path → {size, digest}, the time it took, and the error
    that stopped it (a background write that failed must keep the checkpoint from being committed)."""

    files: dict[str, dict] = field(default_factory=dict)
    times: IoTimes = field(default_factory=IoTimes)
    error: str | None = None


def snapshot(state):
    """A deep copy of a state dict whose tensors all live in (new) host memory.

    Each tensor's storage is copied once and the copied tensors are rebuilt on it with their offsets and strides,
    so tensors that shared a storage share its copy and torch.save writes the snapshot with the layout (and size)
    it would have written the original. Device storages are copied straight to the host, so a snapshot never
    doubles device memory. Everything else is `copy.deepcopy`'d (the tensors are seeded into its memo).
    """
    storages: dict[tuple, torch.UntypedStorage] = {}
    memo: dict[int, object] = {}

    def host_copy(tensor: torch.Tensor) -> torch.Tensor:
        source = tensor.detach()
        storage = source.untyped_storage()
        key = (source.device, storage.data_ptr(), storage.nbytes())
        if key not in storages:
            storages[key] = storage.cpu() if source.device.type != "cpu" else storage.clone()
        copied = torch.empty(0, dtype=source.dtype).set_(storages[key], source.storage_offset(), source.size(),
                                                          source.stride())
        if isinstance(tensor, torch.nn.Parameter):
            return torch.nn.Parameter(copied, requires_grad=tensor.requires_grad)
        return copied.requires_grad_(tensor.requires_grad)

    def seed(obj) -> None:
        if isinstance(obj, torch.Tensor):
            if id(obj) not in memo:
                memo[id(obj)] = host_copy(obj)
        elif isinstance(obj, dict):
            for value in obj.values():
                seed(value)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                seed(value)

    seed(state)
    return copy.deepcopy(state, memo)


class ShardWriter:
    def __init__(self, background: bool = False):
        self.background = background
        self.root: Path | None = None
        self._share = WrittenShare()
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def begin(self, root: Path) -> None:
        """Start a new checkpoint directory; the previous one must have been waited for."""
        if not self.done():
            raise RuntimeError("a checkpoint write is still in flight; wait() for it before starting another")
        self.root = Path(root)
        self._share = WrittenShare()

    # ---- writing ---------------------------------------------------------------------------------------
    def write_state(self, state, path: str | Path) -> None:
        """torch.save `state` to `path` (inside the current checkpoint directory)."""
        if not self.background:
            self._save(state, Path(path))
            return
        started = time.perf_counter()
        frozen = snapshot(state)
        with self._lock:  # the thread may be recording an earlier file's times
            self._share.times.snapshot += time.perf_counter() - started  # the part training waits for
        self._ensure_thread()
        self._queue.put((frozen, Path(path)))

    def write_bytes(self, path: str | Path, data: bytes) -> None:
        """A small file (JSON, config, tokenizer), written and digested synchronously."""
        started = time.perf_counter()
        atomic_write_bytes(path, data)
        elapsed = time.perf_counter() - started
        hashed = time.perf_counter()
        digest = digest_bytes(data)
        times = IoTimes(write=elapsed, digest=time.perf_counter() - hashed)
        self._record(Path(path), len(data), digest, times)

    def _save(self, state, path: Path) -> None:
        times = IoTimes()
        started = time.perf_counter()
        with atomic_open(path, "wb") as fh:
            out = DigestingFile(fh, times)
            torch.save(state, out)
            serialized = time.perf_counter()
        times.fsync = time.perf_counter() - serialized  # atomic_open's exit: flush, fsync, rename
        times.serialize = serialized - started - times.write - times.digest
        self._record(path, out.size, out.hexdigest(), times)

    def _record(self, path: Path, size: int, digest: str, times: IoTimes) -> None:
        rel = path.relative_to(self.root).as_posix() if self.root is not None else path.as_posix()
        with self._lock:
            self._share.files[rel] = {"size": size, DIGEST: digest}
            self._share.times.add(times)

    # ---- the background thread -------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None:
            # A daemon: a process that dies leaves an uncommitted .tmp_ directory, which is what a crash must do.
            self._thread = threading.Thread(target=self._drain, name="checkpoint-writer", daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:  # wait() is done with this checkpoint: no thread outlives its save
                self._queue.task_done()
                return
            state, path = item
            try:
                if self._share.error is None:  # after one failure the checkpoint is lost; skip the rest
                    self._save(state, path)
            except BaseException as exc:  # noqa: BLE001 — reported to every rank by the commit, not lost here
                self._share.error = f"writing {path.name} failed: {exc!r}"
            finally:
                del state
                self._queue.task_done()

    def done(self) -> bool:
        """True when nothing queued is still being written (immediately true for synchronous writes)."""
        return self._queue.unfinished_tasks == 0

    def wait(self) -> WrittenShare:
        """Block until every queued file is durable; what this rank wrote into the current checkpoint."""
        self._queue.join()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        return self._share
