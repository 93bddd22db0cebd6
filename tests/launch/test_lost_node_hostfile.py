"""Hostfile mode: a node whose ranks keep failing (or that fails the node check) is left out of the next
`deepspeed --hostfile` launch, or replaced by a spare — against a fake `deepspeed` that starts the fake
trainer once per slot and makes the ranks on a chosen host crash."""

import json
import sys
import textwrap

import pytest

from launch.incidents import read_incidents
from launch.nodes import BadNode, NodePolicy, NodeSet, launcher_kind
from launch.run import parse_args

FAKE_DEEPSPEED = textwrap.dedent('''\
    #!{python}
    """deepspeed --hostfile F [--num_nodes N] <trainer...>: one process per slot, ranks node by node in hostfile
    order, each node with its own state file; the ranks on $FAIL_HOST crash at their second step on every launch
    (they never save). Exits 1 a second
    after a rank fails, killing the others (the real launchers notice a dead rank on their next poll)."""
    import json, os, subprocess, sys, time
    args = sys.argv[1:]
    hostfile = args[args.index("--hostfile") + 1]
    del args[args.index("--hostfile"):args.index("--hostfile") + 2]
    hosts = [line.split()[0] for line in open(hostfile) if line.strip()]
    slots = [int(line.split("slots=")[1]) for line in open(hostfile) if line.strip()]
    if "--num_nodes" in args:
        count = int(args[args.index("--num_nodes") + 1])
        del args[args.index("--num_nodes"):args.index("--num_nodes") + 2]
        hosts, slots = hosts[:count], slots[:count]
    with open(os.environ["FAKE_DS_LOG"], "a") as log:
        log.write(json.dumps({{"hosts": hosts}}) + "\\n")
    world = sum(slots)
    ranks, rank = [], 0
    for host, n in zip(hosts, slots):
        for _ in range(n):
            extra = [f"state={{os.path.dirname(os.environ['FAKE_DS_LOG'])}}/state.{{host}}"]  # one "checkpoint" per node
            if host == os.environ.get("FAIL_HOST"):
                extra += ["crash_at=2", "ckpt_every=1000"]
            env = {{**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world)}}
            ranks.append(subprocess.Popen(args + extra, env=env))
            rank += 1
    while True:
        codes = [p.poll() for p in ranks]
        if any(c not in (None, 0) for c in codes):
            time.sleep(1.0)
            for p in ranks:
                p.kill()
            sys.exit(1)
        if all(c == 0 for c in codes):
            sys.exit(0)
        time.sleep(0.02)
''')


@pytest.fixture
def cluster(tmp_path, fake_command):
    """A 3-node hostfile, the fake deepspeed on PATH-free absolute path, and the command to supervise."""
    launcher = tmp_path / "bin" / "deepspeed"
    launcher.parent.mkdir()
    launcher.write_text(FAKE_DEEPSPEED.format(python=sys.executable))
    launcher.chmod(0o755)
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("node1 slots=1\nnode2 slots=1\nnode3 slots=1\n")
    command = [str(launcher), "--hostfile", str(hostfile), *fake_command("steps=6", "step_time=0.05")]
    return command


def _launches(tmp_path) -> list[list[str]]:
    return [json.loads(line)["hosts"] for line in (tmp_path / "ds.jsonl").read_text().splitlines()]


def _env(monkeypatch, tmp_path, fail_host="node2"):
    monkeypatch.setenv("FAKE_DS_LOG", str(tmp_path / "ds.jsonl"))
    monkeypatch.setenv("FAIL_HOST", fail_host)


def test_a_node_whose_ranks_die_twice_in_a_row_is_left_out(tmp_path, cluster, supervise, monkeypatch):
    _env(monkeypatch, tmp_path)
    rc = supervise(cluster, nodes=NodePolicy(max_dropped_nodes=1, min_world_size=2))
    assert rc == 0
    # Attempt 1 and 2 fail on node2's rank (rank 1); the third launch's hostfile lists node1 and node3 only.
    assert _launches(tmp_path) == [["node1", "node2", "node3"]] * 2 + [["node1", "node3"]]
    assert (tmp_path / "state.node1").read_text() == (tmp_path / "state.node3").read_text() == "6"
    incidents = read_incidents(tmp_path / "incidents.jsonl")
    assert len(incidents) == 2 and "relaunched without node2" in incidents[1]["detail"]
    assert "relaunched without" not in incidents[0]["detail"]


def test_a_node_failing_the_check_after_a_crash_is_dropped_at_once(tmp_path, cluster, supervise, monkeypatch):
    _env(monkeypatch, tmp_path)
    check = "sh -c 'test {host} != node2 || { echo GPU fell off the bus >&2; exit 1; }'"
    rc = supervise(cluster, nodes=NodePolicy(max_dropped_nodes=1, node_check=check))
    assert rc == 0
    assert _launches(tmp_path) == [["node1", "node2", "node3"], ["node1", "node3"]]
    (incident,) = read_incidents(tmp_path / "incidents.jsonl")
    assert "node2 (node check exited 1: GPU fell off the bus)" in incident["detail"]
    assert incident["dropped_nodes"] == ["node2"]
    assert incident["phases"]["node_check_s"] >= 0


def test_a_node_that_does_not_answer_the_check_is_bad(tmp_path, cluster, supervise, monkeypatch):
    _env(monkeypatch, tmp_path)
    check = "sh -c 'test {host} = node2 && sleep 60; exit 0'"
    policy = NodePolicy(max_dropped_nodes=1, node_check=check, node_check_timeout_s=3.0)
    assert supervise(cluster, nodes=policy) == 0
    assert _launches(tmp_path)[-1] == ["node1", "node3"]
    assert "no answer to the node check within 3 s" in read_incidents(tmp_path / "incidents.jsonl")[0]["detail"]


def test_a_listed_spare_takes_the_bad_nodes_place(tmp_path, cluster, supervise, monkeypatch):
    _env(monkeypatch, tmp_path)
    check = "sh -c 'test {host} != node2'"
    rc = supervise(cluster, nodes=NodePolicy(spares=["node4"], node_check=check))
    assert rc == 0
    assert _launches(tmp_path) == [["node1", "node2", "node3"], ["node1", "node4", "node3"]]


def test_no_relaunch_below_the_minimum_world_size(tmp_path, cluster, supervise, monkeypatch, caplog):
    _env(monkeypatch, tmp_path)
    check = "sh -c 'test {host} != node2'"
    rc = supervise(cluster, nodes=NodePolicy(max_dropped_nodes=1, min_world_size=3,
                                                                       node_check=check))
    assert rc == 1
    assert _launches(tmp_path) == [["node1", "node2", "node3"]]  # never relaunched on the bad node either
    assert "fewer than --min-world-size 3" in caplog.text
    (incident,) = read_incidents(tmp_path / "incidents.jsonl")
    assert incident["gave_up"] is True


def test_the_options_reach_the_policy_and_bad_ones_are_one_line(tmp_path, capsys):
    config, command = parse_args(["--max-dropped-nodes", "2", "--min-world-size", "16", "--spare-nodes",
                                  "gpu[07-08]", "--node-check", "ssh {host} true", "--", "deepspeed"])
    assert config.nodes == NodePolicy(max_dropped_nodes=2, min_world_size=16, spares=["gpu07", "gpu08"],
                                      node_check="ssh {host} true")
    with pytest.raises(SystemExit) as stop:
        parse_args(["--spare-nodes", "gpu[07-"])
    assert stop.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_only_torchrun_that_restarts_its_workers_is_left_to_re_form_the_world():
    elastic = ["torchrun", "--nnodes", "1:2", "--nproc-per-node", "1", "-m", "pretrain.train"]
    assert launcher_kind([*elastic[:3], "--max-restarts", "1", *elastic[3:]]) == "elastic"
    assert launcher_kind([*elastic[:3], "--max-restarts=0", *elastic[3:]]) is None  # the agent exits instead
    assert launcher_kind(elastic) is None  # torchrun's default is 0 restarts
    assert launcher_kind(["torchrun", "--nnodes", "2:2", "--max-restarts", "3", "-m", "x"]) is None


def test_slurm_steps_exclude_the_bad_node_and_follow_the_node_count(tmp_path):
    command = ["srun", "--kill-on-bad-exit=1", "--nodes", "3", "--ntasks-per-node", "1", "torchrun", "--nnodes", "3",
               "--nproc-per-node", "8", "--rdzv-endpoint", "n1:29500", "-m", "pretrain.train", "x=1"]
    nodes = NodeSet(command, NodePolicy(max_dropped_nodes=1, spares=["n4"]), {"SLURM_JOB_NODELIST": "n[1-4]"}, tmp_path)
    assert launcher_kind(command) == "srun" and nodes.world_size == 24
    first = nodes.command_for(command, 1)
    assert first[:5] == ["srun", "--exclude=n4", "--kill-on-bad-exit=1", "--nodes", "3"]  # the spare held back
    assert first[first.index("--nnodes") + 1] == "3"
    assert nodes.remove([BadNode("n2", "x")]) is None
    assert [h.name for h in nodes.active] == ["n1", "n4", "n3"]  # the spare, in n2's place
    second = nodes.command_for(command, 2)
    assert second[:5] == ["srun", "--exclude=n2", "--kill-on-bad-exit=1", "--nodes", "3"]
    # No spare left: n3 is dropped, the step shrinks to 2 nodes and a fixed torchrun --nnodes follows.
    assert nodes.remove([BadNode("n3", "x")]) is None
    third = nodes.command_for(command, 3)
    assert third[:5] == ["srun", "--exclude=n2,n3", "--kill-on-bad-exit=1", "--nodes", "2"]
    assert third[third.index("--nnodes") + 1] == "2" and third[-2:] == ["pretrain.train", "x=1"]
    # A second drop is over --max-dropped-nodes 1: refused with the reason, the node set unchanged.
    assert "--max-dropped-nodes is 1" in nodes.remove([BadNode("n1", "x")])
    assert [h.name for h in nodes.active] == ["n1", "n4"]
    # The rendezvous lived on the first node: when that node is the one left out, it moves to the next.
    nodes = NodeSet(command, NodePolicy(max_dropped_nodes=1), {"SLURM_JOB_NODELIST": "n[1-3]"}, tmp_path)
    assert nodes.remove([BadNode("n1", "x")]) is None
    moved = nodes.command_for(command, 2)
    assert moved[moved.index("--rdzv-endpoint") + 1] == "n2:29500"
