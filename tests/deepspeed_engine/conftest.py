"""Shared fixtures for the trainer / ZeRO tests: a small two-source token corpus written once per session."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from pretrain.distributed.session import free_port
from tests.token_sources import write_token_source

REPO = Path(__file__).resolve().parents[2]
VOCAB = 2000  # model=tiny's vocabulary


def _phrase_documents(seed: int, count: int) -> list[np.ndarray]:
    """Documents stitched from a fixed set of 'phrases' (random id runs): learnable, so the loss falls and the
    validation loss means something, yet no tokenizer or corpus is needed."""
    rng = np.random.default_rng(seed)
    phrases = [rng.integers(3, VOCAB, size=int(rng.integers(4, 12))) for _ in range(40)]
    return [np.concatenate([phrases[i] for i in rng.integers(0, len(phrases), size=int(rng.integers(8, 40)))])
            for _ in range(count)]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trainer_zero_corpus")
    write_token_source(root / "zh", _phrase_documents(1, 300), "zh", VOCAB)
    write_token_source(root / "en", _phrase_documents(2, 200), "en", VOCAB)
    return root


def data_overrides(corpus: Path) -> list[str]:
    return [
        f"data.sources=[{{name: zh, path: {corpus / 'zh'}, target_fraction: 0.6}}, "
        f"{{name: en, path: {corpus / 'en'}, target_fraction: 0.4}}]",
        "data.tokenizer=",
        "data.validation_fraction=0.1",
    ]


# DeepSpeed's launcher reports a rank that died of a signal as "exits with return code = -<signal>".
SIGNAL_DEATH = re.compile(r"exits with return code = -(\d+)")


def launch_two_ranks(args: list[str], cwd: Path, timeout: int = 240, env: dict | None = None,
                     scratch: Path | None = None):
    """`deepspeed --no_local_rank --num_gpus 2 ARGS` (2 CPU ranks on gloo); returns the CompletedProcess.

    Python's faulthandler is on, so a rank killed by a signal prints every thread's stack. A rank killed by a
    signal is relaunched once, with a warning carrying the first attempt's output: none of these tests sends a
    signal, and the deaths seen (SIGABRT, "terminate called without an active exception", about 1 suite in 5)
    came from C++ teardown at interpreter exit, which zero_stages_worker.py now skips. A Python error or a wrong
    result fails at once. `scratch` (the run's output directory) is emptied before the relaunch.
    """
    deepspeed = Path(sys.executable).with_name("deepspeed")
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1", **(env or {})}

    def launch() -> subprocess.CompletedProcess:
        port = ["--master_port", str(free_port())]  # other test sessions may hold DeepSpeed's default port
        return subprocess.run([str(deepspeed), "--no_local_rank", "--num_gpus", "2", *port, *args], cwd=cwd,
                              env=full_env, capture_output=True, text=True, timeout=timeout)

    result = launch()
    death = SIGNAL_DEATH.search(result.stdout + result.stderr) if result.returncode else None
    if death is None:
        return result
    warnings.warn(f"a rank died of signal {death.group(1)}; relaunching once. First attempt's output:\n"
                  f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}", stacklevel=2)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
    return launch()
