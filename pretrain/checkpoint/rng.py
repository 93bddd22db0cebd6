"""Every random generator's state as JSON (no pickles of our own), so a resume replays the same randomness.

CUDA: a rank draws only on its own device (the one its LOCAL_RANK selected), so it saves and restores that
device's generator alone. Restoring every generator the saving node had (`set_rng_state_all`) breaks a resume
on another node shape: 2 nodes × 8 GPUs → 4 × 4 hands 8 states to a process that sees 4 devices.
"""

from __future__ import annotations

import base64
import random

import numpy as np
import torch


def _tensor_to_b64(state: torch.Tensor) -> str:
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def _b64_to_tensor(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def capture_rng_state() -> dict:
    version, internal, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [np_kind, np_keys.tolist(), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "torch": _tensor_to_b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available():
        state["cuda_device"] = _tensor_to_b64(torch.cuda.get_rng_state(torch.cuda.current_device()))
    return state


def restore_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_b64_to_tensor(state["torch"]))
    if torch.cuda.is_available():
        device = torch.cuda.current_device()
        if "cuda_device" in state:
            torch.cuda.set_rng_state(_b64_to_tensor(state["cuda_device"]), device)
        elif device < len(state.get("cuda", [])):
            # Written before this format: every generator of the saving node, of which this rank's device
            # index is the one it drew on when the node shape is unchanged.
            torch.cuda.set_rng_state(_b64_to_tensor(state["cuda"][device]), device)
