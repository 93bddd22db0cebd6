import os
import sys
from pathlib import Path

import pytest

from launch.supervisor import Supervisor, SupervisorConfig

FAKE_TRAINER = Path(__file__).with_name("fake_trainer.py")


@pytest.fixture
def fake_command(tmp_path):
    """Build the command line of the fake trainer, with its state and argv log under tmp_path."""

    def build(*overrides: str, state: str = "state") -> list[str]:
        return [sys.executable, str(FAKE_TRAINER), f"state={tmp_path / state}",
                f"argv_log={tmp_path / 'argv.jsonl'}", *overrides]

    return build


@pytest.fixture
def supervise(tmp_path):
    """Run the supervisor in-process with timeouts small enough for tests; returns its exit code."""

    def run(command: list[str], **overrides) -> int:
        settings = dict(incidents_path=tmp_path / "incidents.jsonl", heartbeat_dir=tmp_path / "heartbeats",
                        max_restarts=2, heartbeat_timeout_s=30.0, startup_timeout_s=60.0, backoff_s=0.05,
                        kill_grace_s=5.0, stop_grace_s=10.0, poll_interval_s=0.05)
        settings.update(overrides)
        return Supervisor(command, SupervisorConfig(**settings), environ=_clean_environ()).run()

    return run


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BAICHUAN_")}
