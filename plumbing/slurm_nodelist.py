"""Slurm's compact node-list syntax (`node[01-04,07]`), expanded without Slurm: for a hostfile written from
`$SLURM_JOB_NODELIST` (launch.hostfile) and for the rendezvous host of an `srun` task (pretrain.distributed)."""

from __future__ import annotations

import re

from plumbing.user_error import UserError


class HostListError(UserError, ValueError):
    """A mistake in a hostfile or node list, phrased for the user."""


def expand_nodelist(nodelist: str) -> list[str]:
    """Expand Slurm's compact node list: `node[01-03,07],gpu-a[1-2]-x` → node01 node02 node03 node07 ...

    Zero padding is kept (`[08-10]` → 08 09 10); several bracket groups in one name multiply out.
    """
    names: list[str] = []
    for item in _split_top_level(nodelist.strip()):
        names.extend(_expand_item(item, nodelist))
    if not names:
        raise HostListError(f"node list {nodelist!r} names no nodes — use e.g. node[01-04,07]")
    return names


def _split_top_level(text: str) -> list[str]:
    items, depth, current = [], 0, []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise HostListError(f"node list {text!r} has an unmatched ']' — use e.g. node[01-04,07]")
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise HostListError(f"node list {text!r} has an unmatched '[' — use e.g. node[01-04,07]")
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
            raise HostListError(f"node list {whole!r}: bad range {part!r} — use N or N-M inside the brackets")
        low, high = bounds[1], bounds[2] or bounds[1]
        if int(high) < int(low):
            raise HostListError(f"node list {whole!r}: range {part!r} runs backwards — write it low-high")
        width = len(low) if low.startswith("0") else 0
        numbers.extend(str(n).zfill(width) for n in range(int(low), int(high) + 1))
    return numbers
