"""JSON lines: the pipeline's record format on disk (plain, ``.gz`` or ``.zst``, chosen by suffix).

`read_jsonl` is strict (a malformed line raises): use it for files this project wrote, e.g. ``OUT/kept/``.
Untrusted input goes through `data_pipeline.readers`, which turns every bad line into a rejected record.
`write_jsonl` is atomic (temp name, then rename) and byte-reproducible (gzip header without mtime or name),
so a rerun of a pipeline shard produces an identical file.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import zstandard

GZIP_LEVEL = 5  # ~3x faster than level 9 for ~5% larger files; shards are rewritten often


def compression_of(path: str | os.PathLike) -> str:
    """'gzip', 'zstd' or 'none', from the file name suffix."""
    name = str(path)
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith(".zst") or name.endswith(".zstd"):
        return "zstd"
    return "none"


def open_binary_reader(path: str | os.PathLike) -> IO[bytes]:
    """A decompressing binary stream over `path` that iterates by line. An empty file is an empty stream
    whatever its suffix. A truncated or corrupt compressed file yields every line that can be decompressed before
    the break, then raises one of BROKEN_STREAM_ERRORS."""
    kind = compression_of(path)
    if kind == "none":
        return open(path, "rb")
    # BufferedReader: line iteration over the raw decompressor (2x faster than GzipFile's own readline).
    return io.BufferedReader(_SalvagingDecompressor(open(path, "rb"), kind), buffer_size=1 << 16)


class _SalvagingDecompressor(io.RawIOBase):
    """gzip or zstd decompression that hands out everything it could decode before reporting a broken stream.

    `gzip.open` and zstandard's stream reader decode a whole input chunk per read and raise when the chunk ends
    mid-stream, discarding the lines already decoded in it: a truncated 5 KiB file lost every line. Here the
    bytes decoded so far are returned first and the error comes on the next read. Concatenated members (gzip)
    and frames (zstd) are read one after another, as `gzip` and `zstd -d` do."""

    CHUNK = 1 << 20

    def __init__(self, raw: IO[bytes], kind: str):
        self._raw, self._kind = raw, kind
        self._decoder = self._new_decoder()
        self._pending = b""
        self._started = False  # a member/frame has begun and not ended
        self._input_done = False

    def _new_decoder(self):
        if self._kind == "gzip":
            return zlib.decompressobj(wbits=31)
        return zstandard.ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            if self._input_done:
                if self._started:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
                return 0
            self._pending = self._decode(self._raw.read(self.CHUNK))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _decode(self, data: bytes) -> bytes:
        if not data:
            self._input_done = True
            return b""
        out = []
        while data:
            self._started = True
            out.append(self._decoder.decompress(data))
            if not self._decoder.eof:
                break
            data, self._started = self._decoder.unused_data, False
            self._decoder = self._new_decoder()
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


# What reading a truncated or corrupt compressed stream raises (gzip.BadGzipFile is an OSError). A constant: built
# inside an `except` clause it once imported zstandard while a generator was being closed at interpreter exit.
BROKEN_STREAM_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, zstandard.ZstdError)


def _open_binary_writer(raw: IO[bytes], path: str | os.PathLike) -> IO[bytes]:
    kind = compression_of(path)
    if kind == "gzip":
        # mtime=0 and an empty name make the bytes depend on the content only.
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL)
    if kind == "zstd":
        return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
    return raw


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield one dict per non-empty line. Raises ValueError naming the file and line on malformed JSON."""
    with open_binary_reader(path) as raw:
        for line_no, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: invalid JSON ({err.msg})") from None


def dumps_record(record: dict) -> str:
    """One JSON line (no newline). Non-ASCII is kept as-is: Chinese text stays readable and 3x smaller."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class JsonlWriter:
    """Streams records to `path` atomically: a temp file while writing, renamed into place by `commit()`.

    With ``lazy=True`` nothing is created until the first record, so an empty output leaves no file.
    Leaving the `with` block without `commit()` (an exception) deletes the temp file.
    """

    def __init__(self, path: str | os.PathLike, lazy: bool = False):
        self.path = Path(path)
        self.count = 0
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._raw: IO[bytes] | None = None
        self._stream: IO[bytes] | None = None
        if not lazy:
            self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = open(self._tmp, "wb")
        self._stream = _open_binary_writer(self._raw, self.path)

    def write(self, record: dict) -> None:
        if self._stream is None:
            self._open()
        self._stream.write(dumps_record(record).encode("utf-8"))
        self._stream.write(b"\n")
        self.count += 1

    def commit(self) -> int:
        """Finish the file and move it into place; return the number of records written."""
        if self._raw is not None:
            if self._stream is not self._raw:
                self._stream.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            os.replace(self._tmp, self.path)
            self._raw = self._stream = None
        return self.count

    def abort(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = self._stream = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write `records` to `path` atomically; return the number written.

    The data goes to a temporary name in the same directory and is renamed into place only after it is
    complete and flushed, so a crash never leaves a partial file at `path`.
    """
    with JsonlWriter(path) as writer:
        for record in records:
            writer.write(record)
        return writer.commit()
