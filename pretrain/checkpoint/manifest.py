"""A checkpoint's manifest: every file with its size, digest and the rank that wrote it — the commit record.

A checkpoint directory is trusted only if `manifest.json` exists and every file it lists is present with the
recorded size (and, when asked, digest). The manifest is written after every rank's bytes are durable, and the
directory is renamed into place only after it.

Built from what the ranks report (`build_manifest`): each rank digests the files it writes while writing them
(shard_writer.py) and the reports are gathered in one collective, so rank 0 reads back only the few small files
nobody reported (DeepSpeed's copied recovery scripts). Verified in parallel (`verify_share`): each rank checks the
files it will load — those it wrote, when the world size is unchanged — and the store has the ranks agree.

Format 2 records `xxh3_128` (digest.py explains the choice); format 1 manifests (SHA-256, no writer rank) still
verify, their files spread evenly over the ranks.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from plumbing.atomic_write import atomic_write_json
from pretrain.checkpoint.digest import ALGORITHMS, DIGEST, digest_file

MANIFEST = "manifest.json"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class ManifestBuild:
    manifest: dict
    read_back_bytes: int  # what rank 0 had to read to digest files no rank reported
    seconds: float


def build_manifest(directory: Path, step: int, reported: list[dict[str, dict]]) -> ManifestBuild:
    """The manifest of `directory` from each rank's report (index = rank: relative path → {size, digest})."""
    started = time.perf_counter()
    files: dict[str, dict] = {}
    for rank, share in enumerate(reported):
        for rel, entry in share.items():
            files[rel] = {**entry, "rank": rank}
    read_back = 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(directory).as_posix()
        if rel not in files:  # written outside the ShardWriter: small, read back once by rank 0
            size = path.stat().st_size
            files[rel] = {"size": size, DIGEST: digest_file(path), "rank": 0}
            read_back += size
    manifest = {"format_version": FORMAT_VERSION, "step": step, "files": dict(sorted(files.items()))}
    return ManifestBuild(manifest, read_back, time.perf_counter() - started)


def write_manifest(directory: Path, manifest: dict) -> None:
    atomic_write_json(directory / MANIFEST, manifest, indent=1, sort_keys=True)


def read_manifest(directory: Path) -> tuple[dict | None, str | None]:
    """(files, None) or (None, the reason the checkpoint must not be loaded)."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return None, "no manifest (torn or unfinished write)"
    try:
        return json.loads(manifest_path.read_text(encoding="utf-8"))["files"], None
    except (ValueError, KeyError) as exc:
        return None, f"unreadable manifest ({exc})"


def verifier_of(files: dict[str, dict], rank: int, world_size: int) -> list[str]:
    """The files `rank` verifies: those it wrote when it exists in this world (a rank loads its own ZeRO
    partition and RNG state), the others spread round-robin so every file has exactly one verifier."""
    mine = []
    for index, (rel, entry) in enumerate(sorted(files.items())):
        writer = entry.get("rank")
        owner = writer if writer is not None and writer < world_size else index % world_size
        if owner == rank:
            mine.append(rel)
    return mine


def verify_share(directory: Path, checksums: bool = True, rank: int = 0, world_size: int = 1) -> str | None:
    """None when this rank's share of the checkpoint is whole; otherwise the reason it must not be loaded.
    With the defaults (one process) the share is every file."""
    files, problem = read_manifest(directory)
    if problem:
        return problem
    for rel in verifier_of(files, rank, world_size):
        entry, path = files[rel], directory / rel
        if not path.is_file():
            return f"missing file {rel}"
        if path.stat().st_size != entry["size"]:
            return f"size mismatch for {rel}"
        if checksums:
            algorithm = next((name for name in ALGORITHMS if name in entry), None)
            if algorithm and digest_file(path, algorithm) != entry[algorithm]:
                return f"checksum mismatch for {rel}"
    return None


def checkpoint_bytes(directory: Path) -> int:
    files, _ = read_manifest(directory)
    return sum(entry["size"] for entry in (files or {}).values())
