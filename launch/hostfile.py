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

from plumbing.user_error import UserError, report_user_error

_LINE = re.compile(r"^(?P<host>[^\s#]+)\s+slots=(?P<slots>[+-]?\d+)\s*(?:#.*)?$")


class HostfileError(UserError, ValueError):
    """A mistake in a hostfile or node list, phrased for the user."""


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


def expand_nodelist(nodelist: str) -> list[str]:
    """Expand Slurm's compact node list: `node[01-03,07],gpu-a[1-2]-x` → node01 node02 node03 node07 ...

    Zero padding is kept (`[08-10]` → 08 09 10); several bracket groups in one name multiply out.
    """
    names: list[str] = []
    for item in _split_top_level(nodelist.strip()):
        names.extend(_expand_item(item, nodelist))
    if not names:
        raise HostfileError(f"node list {nodelist!r} names no nodes — use e.g. node[01-04,07]")
    return names


def _split_top_level(text: str) -> list[str]:
    items, depth, current = [], 0, []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise HostfileError(f"node list {text!r} has an unmatched ']' — use e.g. node[01-04,07]")
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise HostfileError(f"node list {text!r} has an unmatched '[' — use e.g. node[01-04,07]")
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _expand_item(item: str, whole: str) -> list[str]:
    match = re.search(r"\[([^\[\]]*)\]", item)
    if match is None:
        return [item]
    prefix, suffix = item[: match.start()], item[match.end():]
    out = []
    for number in _expand_ranges(match[1], whole):
        out.extend(_expand_item(prefix + number + suffix, whole))
    return out


def _expand_ranges(spec: str, whole: str) -> list[str]:
    numbers = []
    for part in spec.split(","):
        part = part.strip()
        bounds = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if bounds is None:
            raise HostfileError(f"node list {whole!r}: bad range {part!r} — use N or N-M inside the brackets")
        low, high = bounds[1], bounds[2] or bounds[1]
        if int(high) < int(low):
            raise HostfileError(f"node list {whole!r}: range {part!r} runs backwards — write it low-high")
        width = len(low) if low.startswith("0") else 0
        numbers.extend(str(n).zfill(width) for n in range(int(low), int(high) + 1))
    return numbers


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
