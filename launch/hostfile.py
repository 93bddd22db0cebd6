"""DeepSpeed hostfiles: check one, or generate one from a node list (Slurm's compact syntax included).

The format `deepspeed --hostfile` reads: one `host slots=N` per line (N = processes, usually GPUs, on that
host); blank lines and `#` comments are ignored.

    python -m launch.hostfile check hostfile
    python -m launch.hostfile generate --nodes 'node[01-04,07]' --slots 8 > hostfile
    python -m launch.hostfile generate --slots 8          # inside a Slurm job: nodes from $SLURM_JOB_NODELIST
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from plumbing.slurm_nodelist import HostListError, expand_nodelist
from plumbing.user_error import report_user_error

_LINE = re.compile(r"^(?P<host>[^\s#]+)\s+slots=(?P<slots>[+-]?\d+)\s*(?:#.*)?$")


HostfileError = HostListError  # one error type for hostfiles and the node lists they are generated from


@dataclass(frozen=True)
class Host:
    name: str
    slots: int


def parse_hostfile(text: str, source: str = "hostfile") -> list[Host]:
    hosts: list[Host] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise HostfileError(f"{source}:{number}: expected `<host> slots=<N>`, got {line!r} — write one host per line")
        name, slots = match["host"], int(match["slots"])
        if slots <= 0:
            raise HostfileError(f"{source}:{number}: host {name!r} has slots={slots}; give it ≥ 1 slot or remove the line")
        if name in first_line:
            raise HostfileError(f"{source}:{number}: duplicate host {name!r} (first on line {first_line[name]}) — list each host once")
        first_line[name] = number
        hosts.append(Host(name, slots))
    if not hosts:
        raise HostfileError(f"{source}: no hosts listed — add `<host> slots=<N>` lines")
    return hosts


def format_hostfile(hosts: list[Host]) -> str:
    return "".join(f"{host.name} slots={host.slots}\n" for host in hosts)


def generate_hostfile(nodes: list[str], slots: int) -> str:
    if slots <= 0:
        raise HostfileError(f"--slots is {slots}; it must be ≥ 1 (processes per node, usually GPUs)")
    hosts = [Host(name, slots) for name in nodes]
    parse_hostfile(format_hostfile(hosts), source="generated hostfile")  # rejects duplicate nodes
    return format_hostfile(hosts)


def _slurm_slots(environ) -> int | None:
    # SLURM_GPUS_ON_NODE is set with --gpus-per-node; SLURM_NTASKS_PER_NODE when one task per GPU.
    for key in ("SLURM_GPUS_ON_NODE", "SLURM_NTASKS_PER_NODE"):
        value = environ.get(key, "")
        if value.isdigit():
            return int(value)
    return None


def main(argv: list[str] | None = None, environ=os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.hostfile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate a hostfile")
    check.add_argument("file", type=Path)
    generate = commands.add_parser("generate", help="write a hostfile to stdout (or --output)")
    generate.add_argument("--nodes", help="comma list or Slurm node list (default: $SLURM_JOB_NODELIST)")
    generate.add_argument("--slots", type=int, help="processes per node (default: $SLURM_GPUS_ON_NODE)")
    generate.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            if not args.file.is_file():
                raise HostfileError(f"{args.file}: no such file — pass the hostfile path")
            hosts = parse_hostfile(args.file.read_text(), source=str(args.file))
            print(f"ok: {len(hosts)} host(s), {sum(h.slots for h in hosts)} slot(s)")
            return 0
        nodelist = args.nodes or environ.get("SLURM_JOB_NODELIST")
        if not nodelist:
            raise HostfileError("no nodes — pass --nodes a,b or run inside a Slurm job ($SLURM_JOB_NODELIST)")
        slots = args.slots if args.slots is not None else _slurm_slots(environ)
        if slots is None:
            raise HostfileError("no slot count — pass --slots N (processes per node, usually GPUs)")
        text = generate_hostfile(expand_nodelist(nodelist), slots)
        if args.output:
            args.output.write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    except HostfileError as exc:
        return report_user_error(exc)


if __name__ == "__main__":
    sys.exit(main())
