"""`python -m launch.run [options] -- <command...>`: supervise a training launch, restart it on crash or hang.

    python -m launch.run --max-restarts 3 --heartbeat-timeout 300 -- \\
        deepspeed --no_local_rank --num_gpus 8 --module pretrain.train train.max_steps=1000

Restarts append `train.resume=auto` to the command. With --max-dropped-nodes or --spare-nodes a node that
fails --node-check after a crash, does not answer it, or hosts the failing rank twice in a row is left out of
the next attempt (deepspeed --hostfile, srun) or replaced by a spare:

    python -m launch.run --max-dropped-nodes 1 --min-world-size 8 \\
        --node-check 'ssh {host} cd $PWD && python -m launch.doctor --gpus 8' -- \\
        deepspeed --hostfile hostfile --no_local_rank --module pretrain.train train.global_batch_size=512
 Exit status: 0 when the command finished (or was
stopped by a forwarded SIGTERM/SIGINT and left in time), 1 after giving up, 2 on a usage error, and the
command's own code when it is one of --fatal-exit-codes (default 2: a config error is not retried).
See docs/launch.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from launch.incidents import default_incidents_path
from launch.nodes import NodePolicy
from launch.supervisor import Supervisor, SupervisorConfig
from plumbing.slurm_nodelist import HostListError, expand_nodelist
from plumbing.user_error import UserError, exit_for_user_error, report_user_error


class _OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; the house style is one line
        raise exit_for_user_error(UserError(message, "see `python -m launch.run --help`"))


def _non_negative(kind):
    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be ≥ 0, got {text}")
        return value

    return parse


def _exit_codes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _node_list(text: str) -> list[str]:
    try:
        return expand_nodelist(text) if text.strip() else []
    except HostListError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    defaults = SupervisorConfig(incidents_path=Path("incidents.jsonl"))
    parser = _OneLineErrorParser(prog="python -m launch.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--max-restarts", type=_non_negative(int), default=defaults.max_restarts, metavar="N",
        help="give up after this many restarts within --restart-window (default %(default)s)")
    add("--restart-window", type=_non_negative(float), default=defaults.restart_window_s, metavar="S",
        help="seconds over which restarts are counted (default %(default)s)")
    add("--heartbeat-timeout", type=_non_negative(float), default=defaults.heartbeat_timeout_s, metavar="S",
        help="a rank silent this long is hung; must exceed the longest step + checkpoint save (default %(default)s)")
    add("--startup-timeout", type=_non_negative(float), default=defaults.startup_timeout_s, metavar="S",
        help="hung if no rank beats this long after launch: imports, JIT builds, checkpoint load (default %(default)s)")
    add("--backoff", type=_non_negative(float), default=defaults.backoff_s, metavar="S",
        help="wait before the first restart; doubles per restart in the window (default %(default)s)")
    add("--max-backoff", type=_non_negative(float), default=defaults.max_backoff_s, metavar="S",
        help="cap on the backoff (default %(default)s)")
    add("--kill-grace", type=_non_negative(float), default=defaults.kill_grace_s, metavar="S",
        help="after a failure, SIGTERM then SIGKILL after this long (default %(default)s)")
    add("--stop-grace", type=_non_negative(float), default=defaults.stop_grace_s, metavar="S",
        help="after a forwarded SIGTERM/SIGINT, time to save and exit before SIGKILL (default %(default)s)")
    add("--poll-interval", type=_non_negative(float), default=defaults.poll_interval_s, metavar="S",
        help="how often the launcher and the heartbeats are checked (default %(default)s)")
    add("--fatal-exit-codes", type=_exit_codes, metavar="CODES",
        default=",".join(str(code) for code in defaults.fatal_exit_codes),
        help="comma-separated launcher exit codes that end the run instead of restarting it: usage and "
             "config errors fail the same way every time (default %(default)s; '' to always restart)")
    add("--incidents", type=Path, default=None, metavar="PATH",
        help="incidents.jsonl to append to (default $BAICHUAN_RUN_DIR/incidents.jsonl or ./incidents.jsonl)")
    add("--heartbeat-dir", type=Path, default=None, metavar="DIR",
        help="where ranks write heartbeats; must be shared by all nodes "
             "(default $BAICHUAN_RUN_DIR/heartbeats, else a temporary directory)")
    nodes = NodePolicy()
    add("--max-dropped-nodes", type=_non_negative(int), default=nodes.max_dropped_nodes, metavar="K",
        help="relaunch without a bad node, at most K nodes in all (default %(default)s: restart on the same nodes)")
    add("--min-world-size", type=_non_negative(int), default=nodes.min_world_size, metavar="RANKS",
        help="give up rather than relaunch on fewer ranks, or (elastic torchrun) go on in a smaller world "
             "(default %(default)s)")
    add("--spare-nodes", type=_node_list, default=[], metavar="NODES",
        help="nodes (comma or Slurm list) held back to replace a bad one; with srun they must be in the allocation")
    add("--node-check", default=None, metavar="CMD",
        help="run after a failure once per node, {host} replaced (e.g. 'srun -N1 -n1 -w {host} python -m "
             "launch.doctor --gpus 8'); a non-zero exit marks the node bad")
    add("--node-check-timeout", type=_non_negative(float), default=nodes.node_check_timeout_s, metavar="S",
        help="a node that does not answer the check in this time is bad (default %(default)s)")
    return parser


def parse_args(argv: list[str]) -> tuple[SupervisorConfig, list[str]]:
    if "--" in argv:
        split = argv.index("--")
        own, command = argv[:split], argv[split + 1:]
    else:
        own, command = argv, []
    args = build_parser().parse_args(own)
    config = SupervisorConfig(
        incidents_path=args.incidents or default_incidents_path(),
        max_restarts=args.max_restarts,
        restart_window_s=args.restart_window,
        heartbeat_timeout_s=args.heartbeat_timeout,
        startup_timeout_s=args.startup_timeout,
        backoff_s=args.backoff,
        max_backoff_s=args.max_backoff,
        kill_grace_s=args.kill_grace,
        stop_grace_s=args.stop_grace,
        poll_interval_s=args.poll_interval,
        fatal_exit_codes=args.fatal_exit_codes,
        heartbeat_dir=args.heartbeat_dir,
        nodes=NodePolicy(max_dropped_nodes=args.max_dropped_nodes, min_world_size=args.min_world_size,
                         spares=args.spare_nodes, node_check=args.node_check,
                         node_check_timeout_s=args.node_check_timeout),
    )
    return config, command


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[launch.run] %(message)s", stream=sys.stderr)
    config, command = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        supervisor = Supervisor(command, config)
        supervisor.install_signal_handlers()
        return supervisor.run()
    except UserError as exc:  # a command that cannot start, a node policy that cannot work: one line
        return report_user_error(exc)


if __name__ == "__main__":
    sys.exit(main())
