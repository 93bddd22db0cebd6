"""Verification on resume, split over two real ranks (gloo, no DeepSpeed): a flipped byte in one rank's file is
found by the rank that wrote it — and only that rank reads it — and both ranks skip to the previous checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pretrain.checkpoint import CheckpointStore
from pretrain.checkpoint import manifest as manifest_module
from pretrain.checkpoint.store import ENGINE_TAG
from pretrain.distributed.collectives import Collectives
from pretrain.distributed.session import free_port


class PartitionEngine:
    """Each rank writes its own partition file through the store's writer, as ZeRO does."""

    def __init__(self, store: CheckpointStore, rank: int):
        self.store, self.rank = store, rank

    def save(self, checkpoint_dir):
        state = {"partition": torch.full((256,), float(self.rank))}
        path = Path(checkpoint_dir) / ENGINE_TAG / f"zero_pp_rank_{self.rank}_optim_states.pt"
        self.store.writer.write_state(state, path)


def worker(rank: int, root: str, port: int, phase: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        collectives = Collectives()
        store = CheckpointStore(root, keep_last=5)
        if phase == "save":
            for step in (2, 4):
                store.save(PartitionEngine(store, rank), step, {"step": step}, "train: {}\n", collectives)
            return
        read: list[str] = []  # every file this rank digests while verifying
        original = manifest_module.digest_file

        def recording_digest(path, algorithm=manifest_module.DIGEST):
            read.append(Path(path).relative_to(root).as_posix())
            return original(path, algorithm)

        manifest_module.digest_file = recording_digest
        ref = store.resolve("auto", collectives)
        Path(root, f"result{rank}.json").write_text(json.dumps({"step": ref.step if ref else None, "read": read}))
    finally:
        dist.destroy_process_group()


def run(root: Path, phase: str) -> None:
    mp.start_processes(worker, args=(str(root), free_port(), phase), nprocs=2, start_method="spawn")


def test_a_flipped_byte_in_one_ranks_file_is_found_by_its_rank_and_both_ranks_skip(tmp_path):
    run(tmp_path, "save")
    assert (tmp_path / "latest").read_text().strip() == "step_00000004"
    files = json.loads((tmp_path / "step_00000004" / "manifest.json").read_text())["files"]
    assert files["deepspeed/zero_pp_rank_1_optim_states.pt"]["rank"] == 1  # rank 1 digested it while writing
    victim = tmp_path / "step_00000004" / ENGINE_TAG / "zero_pp_rank_1_optim_states.pt"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x10
    victim.write_bytes(bytes(data))
    run(tmp_path, "resume")
    results = [json.loads((tmp_path / f"result{rank}.json").read_text()) for rank in range(2)]
    assert [result["step"] for result in results] == [2, 2]  # every rank skipped the corrupt checkpoint together
    corrupt = "step_00000004/deepspeed/zero_pp_rank_1_optim_states.pt"
    assert corrupt in results[1]["read"] and corrupt not in results[0]["read"]
    assert "step_00000004/deepspeed/zero_pp_rank_0_optim_states.pt" in results[0]["read"]
