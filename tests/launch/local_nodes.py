"""`python tests/launch/local_nodes.py --nodes N --pid-dir DIR -- torchrun ...`: N "nodes" on this machine.

A stand-in for `srun ... torchrun` in tests: it starts N copies of the torchrun command (one elastic agent per
"node") on one c10d rendezvous. Node 0 hosts the rendezvous store (`is_host=true`; the others connect to it), as
the first node of a Slurm step does. Each agent's pid is written to DIR/node<i>.pid so a test can kill one
"node" — the agent and everything under it. The exit status is node 0's; the other agents are killed when it
ends, and a SIGTERM is forwarded to all of them.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

# A new round waits this long for late agents once MIN are there: short, so a lost node costs little here,
# yet long enough for both agents to join the first round on a loaded 2-core machine.
LAST_CALL_S = 5


def main() -> int:
    split = sys.argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--pid-dir", type=Path, required=True)
    args = parser.parse_args(sys.argv[1:split])
    command = sys.argv[split + 1:]
    agents = []
    for node in range(args.nodes):
        conf = f"is_host={'true' if node == 0 else 'false'},last_call_timeout={LAST_CALL_S},join_timeout=120"
        agent = subprocess.Popen([command[0], "--rdzv-conf", conf, *command[1:]])
        (args.pid_dir / f"node{node}.pid").write_text(str(agent.pid))
        agents.append(agent)
    signal.signal(signal.SIGTERM, lambda signum, _frame: [a.send_signal(signum) for a in agents])
    code = agents[0].wait()
    for agent in agents[1:]:
        if agent.poll() is None:
            agent.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
