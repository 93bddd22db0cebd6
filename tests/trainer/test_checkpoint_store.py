"""Checkpoint store: atomic commit, verified resume that skips torn/corrupt checkpoints, retention."""

import random

import numpy as np
import pytest
import torch

from pretrain.checkpoint import CheckpointNotFound, CheckpointStore, read_rng_state, read_trainer_state
from pretrain.checkpoint.config_diff import disallowed_changes
from pretrain.checkpoint.rng import capture_rng_state, restore_rng_state
from pretrain.checkpoint.store import ENGINE_TAG


class FakeEngine:
    """Writes what the DeepSpeed step engine would: the engine's state under checkpoint_dir/ENGINE_TAG."""

    def __init__(self, payload: bytes = b"weights"):
        self.payload = payload

    def save(self, checkpoint_dir):
        target = __import__("pathlib").Path(checkpoint_dir) / ENGINE_TAG
        target.mkdir(parents=True, exist_ok=True)
        (target / "mp_rank_00_model_states.pt").write_bytes(self.payload)


def save(store, step, payload=b"weights"):
    return store.save(FakeEngine(payload), step, {"step": step}, "train:\n  lr: 0.1\n")


def test_save_commits_manifest_and_moves_latest(tmp_path):
    store = CheckpointStore(tmp_path)
    path = save(store, 10)
    assert path.name == "step_00000010"
    assert (tmp_path / "latest").read_text().strip() == "step_00000010"
    assert read_trainer_state(path) == {"step": 10}
    assert read_rng_state(path, 0) is not None
    assert not list(tmp_path.glob(".tmp_*"))
    assert store.resolve("auto").step == 10


def test_auto_resume_skips_torn_and_corrupt_checkpoints(tmp_path):
    store = CheckpointStore(tmp_path, keep_last=10)
    save(store, 10)
    save(store, 20)
    save(store, 30)
    # step 30: bytes flipped after commit (checksum catches it); step 20: a file lost; an unfinished .tmp_ save
    engine_file = tmp_path / "step_00000030" / "deepspeed" / "mp_rank_00_model_states.pt"
    engine_file.write_bytes(b"weightz")
    (tmp_path / "step_00000020" / "trainer_state.json").unlink()
    (tmp_path / ".tmp_step_00000040").mkdir()
    assert store.resolve("auto").step == 10
    # Without checksums the size-preserving corruption is invisible — which is why checksums default on.
    assert CheckpointStore(tmp_path, checksums=False).resolve("auto").step == 30


def test_explicit_resume_path_must_verify(tmp_path):
    store = CheckpointStore(tmp_path)
    path = save(store, 5)
    assert store.resolve(str(path)).step == 5
    assert store.resolve(str(tmp_path)).step == 5  # the root resolves through `latest`
    (path / "manifest.json").unlink()
    with pytest.raises(CheckpointNotFound, match="no manifest"):
        store.resolve(str(path))
    with pytest.raises(CheckpointNotFound):
        store.resolve(str(tmp_path / "nowhere"))
    assert store.resolve("none") is None


def test_retention_keeps_last_k_and_every_mth(tmp_path):
    store = CheckpointStore(tmp_path, keep_last=2, keep_every=20)
    for step in (10, 20, 30, 40, 50):
        save(store, step)
    assert sorted(ref.step for ref in store.committed()) == [20, 40, 50]


def test_rng_state_round_trips_through_json():
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    restore_rng_state(state)
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert expected[0] == got[0] and expected[1] == got[1] and torch.equal(expected[2], got[2])


def test_config_diff_allows_operational_changes_and_refuses_the_rest():
    saved = "train:\n  lr: 0.1\n  max_steps: 10\n  seed: 1\nmodel:\n  norm: auto\n  norm_eps: 1.0e-06\n"
    assert disallowed_changes(saved, saved.replace("max_steps: 10", "max_steps: 20").replace("norm: auto", "norm: torch")) == []
    refused = disallowed_changes(saved, saved.replace("seed: 1", "seed: 2").replace("1.0e-06", "1.0e-05"))
    assert refused == ["model.norm_eps: 1e-06 -> 1e-05", "train.seed: 1 -> 2"]


def test_keys_added_to_the_schema_after_the_checkpoint_are_not_a_change():
    saved = "train:\n  seed: 1\n"
    assert disallowed_changes(saved, saved + "newgroup:\n  knob: 3\n") == []
