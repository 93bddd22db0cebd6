"""`OffsetFile`: a file of int64 values (a loader index file) read by slices with ``pread``.

Why not a memory mapping: the kernel maps a whole page-cache folio (up to 2 MiB) around each fault, and every
mapped page counts in the process's RSS (and in its OOM score) although it is the node's shared page cache. A
rank that looks up a few documents per window would, mapped, show ~16 bytes per document of "RSS" within hours
(32 GiB at 2e9 documents). Read with ``pread``, the same pages stay in the shared page cache and a rank's RSS
holds only the slices it is using: a window costs a few syscalls (~2 µs each). Files of at most
`IN_MEMORY_LIMIT` values (512 KiB) are simply read whole.
"""

from __future__ import annotations

import os

import numpy as np

OFFSET_DTYPE = np.dtype("<i8")


class OffsetFile:
    IN_MEMORY_LIMIT = 1 << 16  # values; class attribute so tests can force the pread path on small files

    def __init__(self, path: os.PathLike, count: int):
        self.size = int(count)
        self._fd: int | None = None
        self._values: np.ndarray | None = None
        if self.size <= self.IN_MEMORY_LIMIT:
            self._values = np.fromfile(path, dtype=OFFSET_DTYPE, count=self.size)
        else:
            self._fd = os.open(path, os.O_RDONLY)
        if self.size and self.read(self.size - 1, self.size).size != 1:
            raise ValueError(f"{path} is shorter than its {self.size} values")

    def read(self, start: int, stop: int) -> np.ndarray:
        """Values ``[start, stop)`` (a fresh int64 array)."""
        if self._values is not None:
            return self._values[start:stop]
        start, stop = max(start, 0), min(stop, self.size)
        if stop <= start:
            return np.zeros(0, OFFSET_DTYPE)
        data = os.pread(self._fd, (stop - start) * OFFSET_DTYPE.itemsize, start * OFFSET_DTYPE.itemsize)
        return np.frombuffer(data, dtype=OFFSET_DTYPE)

    def at(self, index: int) -> int:
        return int(self.read(index, index + 1)[0])

    def gather(self, positions: np.ndarray) -> np.ndarray:
        if self._values is not None:
            return self._values[positions]
        return np.array([self.at(int(p)) for p in positions], dtype=OFFSET_DTYPE)

    def last(self) -> int:
        return self.at(self.size - 1) if self.size else 0

    def searchsorted_right(self, value: int, low: int = 0, high: int | None = None) -> int:
        """The first index in ``[low, high)`` whose value exceeds `value` (values non-decreasing), else `high`."""
        high = self.size if high is None else high
        while high - low > 512:  # narrow with single reads, then search one slice
            middle = (low + high) // 2
            if self.at(middle) > value:
                high = middle + 1
            else:
                low = middle + 1
        return low + int(np.searchsorted(self.read(low, high), value, side="right"))

    def tolist(self) -> list[int]:
        return self.read(0, self.size).tolist()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass
