"""Document length bounds, in the unit that measures content: Han characters for zh, words for en."""

from __future__ import annotations

from dataclasses import dataclass

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.textstats import units


@dataclass
class LengthThresholds:
    enabled: bool = True
    min_units: int = 20
    max_units: int = 200_000


class LengthFilter(SignalFilter):
    name = "length"
    section = "length"

    def compute(self, text: str, lang: str) -> dict:
        return {"units": len(units(text, lang)), "chars": len(text)}

    def judge(self, s: dict, t: LengthThresholds) -> str | None:
        if s["units"] < t.min_units:
            return "too_short"
        if s["units"] > t.max_units:
            return "too_long"
        return None
