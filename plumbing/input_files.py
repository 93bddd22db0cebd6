"""Which files a command reads: one rule for every command that reads documents.

An input is a path, a glob or a list of them, in the same syntax everywhere (`input=a.jsonl`,
`input=/data/*.jsonl.gz`, `input=[kept,/more/*.parquet]`). A folder means the data files under it (recursively;
hidden names such as a writer's `.x.tmp` are skipped); a glob's folders are read the same way. Before a command
starts it says how many files matched and how big they are, so a wrong glob shows at once.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from plumbing.user_error import UserError


def input_entries(spec: str | Sequence[str] | None) -> list[str]:
    """A path/glob or a list of them → the list (a config may hold either)."""
    if spec is None or spec == "":
        return []
    if isinstance(spec, str | os.PathLike):
        return [os.fspath(spec)]
    return [os.fspath(entry) for entry in spec]


def _is_data_file(name: str, suffixes: tuple[str, ...]) -> bool:
    return not name.startswith(".") and name.endswith(suffixes)


def _folder_files(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, name) for name in names if _is_data_file(name, suffixes)]
    return sorted(found)


def resolve_input_files(spec: str | Sequence[str], suffixes: tuple[str, ...], *, key: str = "input",
                        read_whole: Callable[[str], bool] = lambda folder: False) -> list[str]:
    """Every file named by `spec`, in the order of its entries (each entry's files sorted), without repeats.

    A named file is taken whatever its suffix; folders and glob matches keep the files ending in `suffixes`.
    `read_whole(folder)` marks folders that are one input themselves (a Hugging Face `save_to_disk` dataset).
    An entry that names nothing is a UserError naming `key`."""
    files: list[str] = []
    for entry in input_entries(spec):
        pattern = os.path.expanduser(entry)
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise UserError(f"{key} glob {entry!r} matches no file", f"check {key}")
        elif os.path.exists(pattern):
            matches = [pattern]
        else:
            raise UserError(f"{key} path {entry} does not exist", f"check {key}")
        named = []
        for match in matches:
            if os.path.isdir(match) and not read_whole(match):
                named += _folder_files(match, suffixes)
            elif os.path.isdir(match) or match == pattern or _is_data_file(os.path.basename(match), suffixes):
                named.append(match)
        if not named:
            raise UserError(f"{key} {entry!r} holds no {'/'.join(suffixes)} file", f"check {key}")
        files += named
    if not files:
        raise UserError(f"no {key} given", f"set {key}=<file, glob, folder or [a list of them]>")
    return list(dict.fromkeys(files))


def total_bytes(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)
    return os.path.getsize(path)


def describe_inputs(files: Sequence[str | Path]) -> str:
    """`input: 3 files, 12.4 MiB (a.jsonl, b.jsonl, c.jsonl)` — at most three names, then a count."""
    size = sum(total_bytes(os.fspath(f)) for f in files)
    unit = next((u for u, s in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)) if size >= s), "B")
    scale = {"GiB": 2**30, "MiB": 2**20, "KiB": 2**10, "B": 1}[unit]
    shown = ", ".join(os.path.basename(os.fspath(f)) or os.fspath(f) for f in files[:3])
    more = f", … {len(files) - 3} more" if len(files) > 3 else ""
    amount = f"{size} B" if unit == "B" else f"{size / scale:.1f} {unit}"
    return f"input: {len(files)} file{'s' if len(files) != 1 else ''}, {amount} ({shown}{more})"


def announce_inputs(files: Sequence[str | Path]) -> None:
    """Say on stderr which files a command is about to read (stdout stays the command's result)."""
    print(describe_inputs(files), file=sys.stderr)
