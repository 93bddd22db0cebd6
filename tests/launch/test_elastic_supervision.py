"""The supervisor under elastic torchrun (`--nnodes MIN:MAX --max-restarts N`), against a fake `torchrun`: a rank
that dies while the launcher lives is a lost node the agents recover from by themselves — no teardown, one
`node_lost` incident timed from the new round's beats — and a new round that never beats is torn down."""

import json
import sys
import textwrap

from launch.incidents import read_incidents
from launch.nodes import NodePolicy

FAKE_TORCHRUN = textwrap.dedent('''\
    #!{python}
    """torchrun --nnodes 1:2 --max-restarts 1 <trainer...>: round 1 = ranks 0 and 1 (rank 1 crashes at step 3,
    rank 0 then fails as its peer is gone); round 2 = {round2} with train.resume=auto."""
    import os, subprocess, sys, time
    args = sys.argv[1:]
    trainer = args[args.index("--max-restarts") + 2:]
    def start(rank, world, *extra):
        env = {{**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world)}}
        return subprocess.Popen(trainer + list(extra), env=env)
    first = [start(0, 2, "hang_at=4"), start(1, 2, "crash_at=3", "state=" + os.environ["SPARE_STATE"])]
    first[1].wait()
    time.sleep(0.5)
    first[0].kill()  # its collective failed: the agent stops the rest of its workers
    first[0].wait()
    if "{round2}" == "nothing":
        time.sleep(60)
        sys.exit(1)
    sys.exit(start(0, 1, "train.resume=auto").wait())
''')


def _torchrun(tmp_path, round2: str) -> list[str]:
    launcher = tmp_path / "bin" / "torchrun"
    launcher.parent.mkdir(exist_ok=True)
    launcher.write_text(FAKE_TORCHRUN.format(python=sys.executable, round2=round2))
    launcher.chmod(0o755)
    return [str(launcher), "--nnodes", "1:2", "--max-restarts", "1"]


def test_a_lost_rank_under_elastic_torchrun_is_left_to_the_agents(tmp_path, fake_command, supervise, monkeypatch):
    monkeypatch.setenv("SPARE_STATE", str(tmp_path / "state1"))
    rc = supervise([*_torchrun(tmp_path, "rank 0 of 1"), *fake_command("steps=8", "step_time=0.05")])
    assert rc == 0
    argv = [json.loads(line)["argv"] for line in (tmp_path / "argv.jsonl").read_text().splitlines()]
    assert len(argv) == 3  # two workers, then one: the launcher itself was never restarted
    (incident,) = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["cause"] == "node_lost" and incident["rank"] == 1 and incident["attempt"] == 1
    assert "elastic rendezvous continues" in incident["detail"]
    # Recovery timed from the new round's own beats, not from the old round's survivor.
    assert incident["resumed_step"] == 4 and incident["steps_lost"] == 0  # rank 0 saved step 4 before it hung; the old round started at 0 and incident["time_to_recover_s"] > 0
    assert (tmp_path / "state").read_text() == "8"


def test_a_new_round_that_never_beats_is_torn_down(tmp_path, fake_command, supervise, monkeypatch):
    monkeypatch.setenv("SPARE_STATE", str(tmp_path / "state1"))
    rc = supervise([*_torchrun(tmp_path, "nothing"), *fake_command("steps=8", "step_time=0.05")],
                   startup_timeout_s=2.0, max_restarts=0)
    assert rc == 1  # gave up (no restarts allowed) after the start-up timeout of the new round
    causes = [i["cause"] for i in read_incidents(tmp_path / "incidents.jsonl")]
    assert causes == ["node_lost", "hang"]


def test_an_elastic_world_below_the_minimum_is_stopped(tmp_path, fake_command, supervise, monkeypatch):
    monkeypatch.setenv("SPARE_STATE", str(tmp_path / "state1"))
    rc = supervise([*_torchrun(tmp_path, "rank 0 of 1"), *fake_command("steps=200", "step_time=0.05")],
                   nodes=NodePolicy(min_world_size=2))
    assert rc == 1
    incidents = read_incidents(tmp_path / "incidents.jsonl")
    assert [i["cause"] for i in incidents] == ["node_lost", "exit"]
    assert incidents[1]["gave_up"] and "below --min-world-size 2" in incidents[1]["detail"]
    assert int((tmp_path / "state").read_text()) < 200  # stopped, not run to the end on one rank
