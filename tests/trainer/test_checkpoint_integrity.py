"""Checkpoint integrity where the bytes are written (digests from the writer, no read-back), verification split
over ranks, and the asynchronous save: snapshot isolation, commit only after every byte is durable."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
import torch

from pretrain.checkpoint import CheckpointStore
from pretrain.checkpoint.digest import DIGEST, digest_file
from pretrain.checkpoint.manifest import MANIFEST, verifier_of, verify_share
from pretrain.checkpoint.shard_writer import ShardWriter
from pretrain.checkpoint.store import ENGINE_TAG


class WriterEngine:
    """Saves the way the DeepSpeed step engine does: every file through the store's ShardWriter."""

    def __init__(self, writer: ShardWriter, extra_file: bytes | None = None):
        self.writer, self.extra_file = writer, extra_file
        self.weights = torch.arange(1000, dtype=torch.float32)
        self.gate = None  # pickled with the state: holds the background write until it is opened

    def save(self, checkpoint_dir):
        state = {"module": {"w": self.weights}, "gate": self.gate}
        self.writer.write_state(state, Path(checkpoint_dir) / ENGINE_TAG / "mp_rank_00_model_states.pt")
        if self.extra_file is not None:  # as DeepSpeed copies zero_to_fp32.py: written outside the writer
            (Path(checkpoint_dir) / "zero_to_fp32.py").write_bytes(self.extra_file)


class Gate:
    """Blocks whoever pickles it (the background writer) until `open` is set; deepcopy keeps the same object."""

    def __init__(self):
        self.open = threading.Event()

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        self.open.wait(30)
        return (int, (0,))


def save(store, engine, step):
    return store.save(engine, step, {"step": step}, "train:\n  lr: 0.1\n")


def manifest_files(path: Path) -> dict:
    return json.loads((path / MANIFEST).read_text())["files"]


def test_the_manifest_holds_what_the_writer_digested_and_rank_0_reads_back_only_unreported_files(tmp_path):
    store = CheckpointStore(tmp_path)
    path = save(store, WriterEngine(store.writer, extra_file=b"#!/usr/bin/env python\n"), 10)
    files = manifest_files(path)
    assert set(files) == {"deepspeed/mp_rank_00_model_states.pt", "rng/rank0.json", "trainer_state.json",
                          "config.yaml", "zero_to_fp32.py"}
    for rel, entry in files.items():  # the digests taken on the way equal those of the bytes on disk
        assert entry[DIGEST] == digest_file(path / rel) and entry["size"] == (path / rel).stat().st_size
        assert entry["rank"] == 0
    assert store.last_report.read_back_bytes == len(b"#!/usr/bin/env python\n")
    assert torch.equal(torch.load(path / "deepspeed/mp_rank_00_model_states.pt")["module"]["w"],
                       torch.arange(1000, dtype=torch.float32))


def test_each_file_has_exactly_one_verifier_and_a_rank_verifies_what_it_wrote():
    files = {f"deepspeed/zero_pp_rank_{r}_optim_states.pt": {"size": 1, "rank": r} for r in range(4)}
    files["zero_to_fp32.py"] = {"size": 1, "rank": 0}
    files["legacy_without_writer.bin"] = {"size": 1}
    shares = [verifier_of(files, rank, 4) for rank in range(4)]
    assert sorted(rel for share in shares for rel in share) == sorted(files)
    for rank in range(4):
        assert f"deepspeed/zero_pp_rank_{rank}_optim_states.pt" in shares[rank]
    # On fewer ranks (a resume on another world size) the files of ranks that are gone are spread, not lost.
    shares = [verifier_of(files, rank, 2) for rank in range(2)]
    assert sorted(rel for share in shares for rel in share) == sorted(files)


def test_a_flipped_byte_is_reported_by_the_verifying_rank_only(tmp_path):
    store = CheckpointStore(tmp_path)
    path = save(store, WriterEngine(store.writer), 10)
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["files"]["rng/rank0.json"]["rank"] = 1  # pretend rank 1 wrote its RNG file
    (path / MANIFEST).write_text(json.dumps(manifest))
    data = bytearray((path / "rng/rank0.json").read_bytes())
    data[5] ^= 0x01
    (path / "rng/rank0.json").write_bytes(bytes(data))
    assert verify_share(path, rank=0, world_size=2) is None
    assert verify_share(path, rank=1, world_size=2) == "checksum mismatch for rng/rank0.json"
    assert verify_share(path, checksums=False, rank=1, world_size=2) is None  # same size: only a digest sees it
    assert "checksum mismatch" in store.verify(path)  # one process verifies every file


def test_a_sha256_manifest_from_before_still_verifies(tmp_path):
    store = CheckpointStore(tmp_path)
    path = save(store, WriterEngine(store.writer), 10)
    legacy = {rel: {"size": entry["size"], "sha256": hashlib.sha256((path / rel).read_bytes()).hexdigest()}
              for rel, entry in manifest_files(path).items()}
    (path / MANIFEST).write_text(json.dumps({"format_version": 1, "step": 10, "files": legacy}))
    assert store.resolve("auto").step == 10
    (path / "config.yaml").write_text("train:\n  lr: 0.2\n")
    assert store.resolve("auto") is None


def test_the_async_snapshot_is_taken_before_training_changes_the_weights(tmp_path):
    store = CheckpointStore(tmp_path, background=True)
    engine = WriterEngine(store.writer)
    engine.gate = Gate()
    path = save(store, engine, 10)
    engine.weights.add_(1.0)  # the next optimizer step, while the bytes are still being written
    engine.gate.open.set()
    store.finish()
    saved = torch.load(path / ENGINE_TAG / "mp_rank_00_model_states.pt", weights_only=False)
    assert torch.equal(saved["module"]["w"], torch.arange(1000, dtype=torch.float32))


def test_an_async_save_in_flight_is_never_latest_and_commits_once_durable(tmp_path):
    store = CheckpointStore(tmp_path, background=True)
    engine = WriterEngine(store.writer)
    save(store, engine, 2)
    assert store.poll() is True and (tmp_path / "latest").read_text().strip() == "step_00000002"
    engine.gate = Gate()
    save(store, engine, 4)  # returns while the engine file is still being written
    assert not store.writer.done() and store.poll() is False
    # What a crash now leaves behind: the torn .tmp_ save, and the previous checkpoint as `latest` and newest valid.
    assert (tmp_path / ".tmp_step_00000004").is_dir() and not (tmp_path / ".tmp_step_00000004" / MANIFEST).exists()
    assert (tmp_path / "latest").read_text().strip() == "step_00000002"
    assert CheckpointStore(tmp_path).resolve("auto").step == 2
    engine.gate.open.set()
    store.finish()
    assert (tmp_path / "latest").read_text().strip() == "step_00000004"
    assert CheckpointStore(tmp_path).resolve("auto").step == 4


def test_a_failed_background_write_is_not_committed(tmp_path):
    store = CheckpointStore(tmp_path, background=True)
    engine = WriterEngine(store.writer)
    save(store, engine, 2)
    store.finish()
    engine.weights = torch.arange(4)
    engine.gate = Unpicklable()
    save(store, engine, 4)
    with pytest.raises(RuntimeError, match="checkpoint step 4 not committed: rank 0: writing"):
        store.finish()
    assert (tmp_path / "latest").read_text().strip() == "step_00000002"
    assert [ref.step for ref in store.committed()] == [2]


class Unpicklable:
    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise OSError("No space left on device")
