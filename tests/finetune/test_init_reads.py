"""What `finetune.init_from` costs the filesystem: composing the config (on every rank) reads the run's config
and no weights, digests nothing; the init verifies each file of the checkpoint once, shared among the ranks; the
weights are read once per rank that needs them, memory-mapped, from the model-state file alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pretrain.checkpoint import CheckpointStore, manifest
from pretrain.checkpoint.store import ENGINE_TAG
from pretrain.config import compose_config, to_yaml
from pretrain.distributed.collectives import Collectives
from pretrain.engine.deepspeed_engine import copy_initial_weights
from pretrain.finetune.init_weights import open_init_weights, verify_init_weights
from pretrain.model import BaichuanForCausalLM

OVERRIDES = ["model=tiny", "data.sources=[{name: zh, path: /unused}]", "deepspeed=zero0", "train.precision=fp32"]


class ModuleEngine:
    """Saves what DeepSpeed's ZeRO-0 engine does: the whole module in mp_rank_00_model_states.pt."""

    def __init__(self, model):
        self.model = model

    def save(self, checkpoint_dir):
        target = Path(checkpoint_dir) / ENGINE_TAG
        target.mkdir(parents=True, exist_ok=True)
        torch.save({"module": self.model.state_dict()}, target / "mp_rank_00_model_states.pt")
        (target / "zero_to_fp32.py").write_text("# DeepSpeed's recovery script\n")


@pytest.fixture(scope="module")
def base_config():
    return compose_config(OVERRIDES)


@pytest.fixture
def pretrained(tmp_path, base_config):
    config = base_config
    torch.manual_seed(3)
    model = BaichuanForCausalLM(config.model)
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(ModuleEngine(model), 2, {"step": 2, "world_size": 1, "zero_stage": 0}, to_yaml(config))
    (tmp_path / "tokenizer.model").write_bytes(b"unused")
    return tmp_path / "checkpoints", model.state_dict(), tmp_path / "tokenizer.model"


@pytest.fixture
def reads(monkeypatch):
    """Every digest of a checkpoint file and every torch.load (file name, mmap), as they happen."""
    seen = {"digest": [], "load": []}
    digest, load = manifest.digest_file, torch.load

    def counted_digest(path, *args):
        step_dir = next(parent for parent in Path(path).parents if parent.name.startswith("step_"))
        seen["digest"].append(Path(path).relative_to(step_dir).as_posix())
        return digest(path, *args)

    def counted_load(f, *args, **kwargs):
        seen["load"].append((Path(f).name, kwargs.get("mmap", False)))
        return load(f, *args, **kwargs)

    monkeypatch.setattr(manifest, "digest_file", counted_digest)
    monkeypatch.setattr(torch, "load", counted_load)
    return seen


class Rank(Collectives):
    """Rank `rank` of 2, each rank's verdict None (the test checks who digested what, not the agreement)."""

    def __init__(self, rank: int):
        super().__init__()
        self._rank = rank

    def active(self) -> bool:
        return False

    def rank(self) -> int:
        return self._rank

    def world_size(self) -> int:
        return 2

    def all_gather_object(self, obj) -> list:
        return [obj, None] if self._rank == 0 else [None, obj]


def test_composition_reads_no_weights_and_digests_nothing(pretrained, reads, base_config):
    root, _, tokenizer = pretrained
    config = compose_config([*OVERRIDES, f"finetune.init_from={root}", "finetune.data=[sft.jsonl]",
                             f"data.tokenizer={tokenizer}"])
    assert config.model.hidden_size == base_config.model.hidden_size
    assert reads == {"digest": [], "load": []}


def test_the_init_verifies_each_file_once_across_ranks_and_reads_only_model_weights(pretrained, reads, base_config):
    root, saved, _ = pretrained
    files = manifest.read_manifest(root / "step_00000002")[0]
    for rank in (0, 1):
        verify_init_weights(str(root), Rank(rank))
    assert sorted(reads["digest"]) == sorted(files)  # every file, each exactly once, over both ranks
    assert reads["load"] == []
    reads["digest"].clear()

    model = BaichuanForCausalLM(base_config.model)
    copy_initial_weights(model, lambda: open_init_weights(str(root)), partitioned=False)
    assert reads == {"digest": [], "load": [("mp_rank_00_model_states.pt", True)]}
    for name, param in model.named_parameters():
        assert torch.equal(param, saved[name]), name


def test_a_corrupt_initial_checkpoint_is_one_line_naming_the_file(pretrained):
    root, _, _ = pretrained
    state = root / "step_00000002" / ENGINE_TAG / "mp_rank_00_model_states.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    with pytest.raises(Exception) as caught:
        verify_init_weights(str(root), Collectives.solo_process())
    assert "checksum mismatch for deepspeed/mp_rank_00_model_states.pt" in str(caught.value)
    assert "\n" not in str(caught.value) and " — " in str(caught.value)


def test_zero3_init_ranks_wait_for_rank_0s_open_outside_any_collective(monkeypatch, base_config):
    """Under ZeRO-3 rank 0 alone opens the weights and checks the fit; the others take its verdict from the
    rendezvous store (no broadcast they could time out in) and never read the weights."""
    import contextlib

    import deepspeed
    import torch.distributed as dist

    from plumbing.user_error import ConfigError
    from pretrain.distributed import rank_zero

    def refuse(*args, **kwargs):
        raise AssertionError("a collective waits while rank 0 opens the weights")

    for name in ("broadcast_object_list", "barrier", "broadcast", "all_gather_object"):
        monkeypatch.setattr(dist, name, refuse)
    gathered = []
    monkeypatch.setattr(deepspeed.zero, "GatheredParameters",
                        lambda params, modifier_rank: gathered.append(modifier_rank) or contextlib.nullcontext())
    store = dist.HashStore()
    monkeypatch.setattr(rank_zero, "default_store", lambda: store)
    model = BaichuanForCausalLM(base_config.model)
    full = {name: torch.full_like(param, 0.5) for name, param in model.named_parameters()}

    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    copy_initial_weights(model, lambda: full, partitioned=True)
    assert all(torch.equal(param, full[name]) for name, param in model.named_parameters())
    assert gathered and set(gathered) == {0}  # one gather per parameter, rank 0 writing

    monkeypatch.setattr(dist, "get_rank", lambda: 1)  # rank 0's verdict is in the store now
    copy_initial_weights(model, lambda: pytest.fail("rank 1 read the weights"), partitioned=True)

    store = dist.HashStore()
    monkeypatch.setattr(rank_zero, "default_store", lambda: store)
    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    with pytest.raises(ConfigError, match="does not fit"):
        copy_initial_weights(model, lambda: {"lm_head.weight": torch.zeros(1)}, partitioned=True)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    with pytest.raises(ConfigError, match="does not fit"):  # the same line on every rank
        copy_initial_weights(model, lambda: pytest.fail("rank 1 read the weights"), partitioned=True)


def test_evaluations_data_config_reads_the_run_config_only(pretrained, reads, base_config):
    # pretrain.evaluation task=ppl loads (and so verifies) the model first; its data config read digested the
    # whole checkpoint a second time.
    from pretrain.evaluation.data_spec import checkpoint_data

    root, _, _ = pretrained
    data, seq_len = checkpoint_data(str(root))
    assert seq_len == base_config.train.seq_len and data.sources[0].name == "zh"
    assert reads == {"digest": [], "load": []}
