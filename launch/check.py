"""One row of `launch.doctor`'s report; `failed` marks a requirement of the given config that this node misses."""

from __future__ import annotations

from dataclasses import dataclass

ABSENT = "absent"


@dataclass(frozen=True)
class Check:
    name: str
    value: str
    detail: str = ""
    failed: bool = False
