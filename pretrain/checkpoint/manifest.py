"""A checkpoint's manifest: every file with its size and checksum, written last.

A checkpoint directory is trusted only if `manifest.json` exists and every file it lists is present with the
recorded size (and, when asked, checksum). The manifest is the commit record: it is written after every rank
has finished writing, and the directory is renamed into place only after it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from plumbing.atomic_write import atomic_write_json

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: Path, step: int, checksums: bool = True) -> dict:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        entry = {"size": path.stat().st_size}
        if checksums:
            entry["sha256"] = sha256_file(path)
        files[path.relative_to(directory).as_posix()] = entry
    manifest = {"format_version": FORMAT_VERSION, "step": step, "files": files}
    atomic_write_json(directory / MANIFEST, manifest, indent=1, sort_keys=True)
    return manifest


def verify_manifest(directory: Path, checksums: bool = True) -> str | None:
    """None when the checkpoint is whole; otherwise the reason it must not be loaded."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return "no manifest (torn or unfinished write)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError) as exc:
        return f"unreadable manifest ({exc})"
    for rel, entry in files.items():
        path = directory / rel
        if not path.is_file():
            return f"missing file {rel}"
        if path.stat().st_size != entry["size"]:
            return f"size mismatch for {rel}"
        if checksums and "sha256" in entry and sha256_file(path) != entry["sha256"]:
            return f"checksum mismatch for {rel}"
    return None
