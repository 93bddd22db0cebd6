"""A rank's CUDA generator survives a resume on another node shape (2 nodes × 8 GPUs → 4 × 4): each rank saves
and restores its own device's generator, never the saving node's whole set."""

from __future__ import annotations

import torch

from pretrain.checkpoint.rng import _tensor_to_b64, capture_rng_state, restore_rng_state


class FakeCuda:
    """torch.cuda as a process sees it on a node with `count` visible GPUs, current device `current`: one
    generator state per device; a device index past the visible ones fails as torch's does."""

    def __init__(self, count: int, current: int):
        self.count, self.current = count, current
        self.states = {i: torch.full((8,), i, dtype=torch.uint8) for i in range(count)}

    def is_available(self) -> bool:
        return True

    def current_device(self) -> int:
        return self.current

    def device_count(self) -> int:
        return self.count

    def _index(self, device) -> int:
        index = torch.device(device).index if not isinstance(device, int) else device
        index = self.current if index is None else index
        if index >= self.count:
            raise IndexError(f"device {index} of {self.count}")
        return index

    def get_rng_state(self, device="cuda") -> torch.Tensor:
        return self.states[self._index(device)].clone()

    def get_rng_state_all(self) -> list[torch.Tensor]:
        return [self.states[i].clone() for i in range(self.count)]

    def set_rng_state(self, state: torch.Tensor, device="cuda") -> None:
        self.states[self._index(device)] = state.clone()

    def set_rng_state_all(self, states) -> None:  # torch.cuda's: set_rng_state(state, i) for every i
        for index, state in enumerate(states):
            self.set_rng_state(state, index)


def _patch(monkeypatch, fake: FakeCuda) -> None:
    for name in ("is_available", "current_device", "device_count", "get_rng_state", "get_rng_state_all",
                 "set_rng_state", "set_rng_state_all"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))


def test_resume_on_a_node_with_fewer_gpus_restores_this_ranks_device(monkeypatch):
    saver = FakeCuda(count=8, current=6)  # global rank 6 of a 2 × 8 run
    saver.states[6] = torch.arange(8, dtype=torch.uint8) + 100
    _patch(monkeypatch, saver)
    state = capture_rng_state()
    loader = FakeCuda(count=4, current=2)  # rank 6 of a 4 × 4 run: device 2 of 4
    _patch(monkeypatch, loader)
    restore_rng_state(state)
    assert torch.equal(loader.states[2], torch.arange(8, dtype=torch.uint8) + 100)
    assert all(torch.equal(loader.states[i], torch.full((8,), i, dtype=torch.uint8)) for i in (0, 1, 3))


def test_a_checkpoint_written_with_every_generator_of_the_node_still_resumes(monkeypatch):
    """The format before this one held all 8 states of the saving node in `cuda`."""
    saver = FakeCuda(count=8, current=2)
    _patch(monkeypatch, saver)
    state = capture_rng_state()
    del state["cuda_device"]
    state["cuda"] = [_tensor_to_b64(torch.full((8,), 50 + i, dtype=torch.uint8)) for i in range(8)]
    loader = FakeCuda(count=4, current=2)
    _patch(monkeypatch, loader)
    restore_rng_state(state)
    assert torch.equal(loader.states[2], torch.full((8,), 52, dtype=torch.uint8))
