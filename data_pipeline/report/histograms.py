"""Histograms for report.md: document length and quality score, kept vs rejected, per language (PNG).

matplotlib is imported here only, with the Agg backend (no display needed); without it the report still has
its tables and says the plots were skipped.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import numpy as np

from data_pipeline.formats.jsonl import read_jsonl

MAX_RECORDS = 200_000  # per side (kept / rejected): enough for a histogram, bounded time on big runs


def matplotlib_available() -> bool:
    try:
        # lazy: matplotlib is optional here (the report keeps its tables without it) and ~0.5 s to import
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def collect_values(files: list[Path]) -> dict[str, dict[str, list[float]]]:
    """{"chars:zh": [...], "quality:en": [...]} from the records in `files` (first MAX_RECORDS)."""
    values: dict[str, list[float]] = defaultdict(list)
    records = itertools.islice((r for path in files for r in read_jsonl(path)), MAX_RECORDS)
    for record in records:
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        lang = meta.get("lang", "unknown")
        if isinstance(record.get("text"), str):
            values[f"chars:{lang}"].append(len(record["text"]))
        if isinstance(meta.get("quality_score"), (int, float)):
            values[f"quality:{lang}"].append(float(meta["quality_score"]))
    return values


def plot_histograms(output_dir: Path) -> list[Path]:
    """Write length and quality histograms under OUT/report/; return the PNG paths written."""
    if not matplotlib_available():
        return []
    import matplotlib  # lazy: optional, as in matplotlib_available

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: only after the Agg backend is chosen

    kept = collect_values(sorted((output_dir / "kept").glob("*.jsonl*")))
    rejected = collect_values(sorted((output_dir / "rejected").glob("*.jsonl*")))
    written = []
    for kind, xlabel, log in (("chars", "document length (characters, log scale)", True),
                              ("quality", "quality score", False)):
        langs = sorted({key.split(":", 1)[1] for key in (*kept, *rejected) if key.startswith(kind + ":")})
        if not langs:
            continue
        fig, axes = plt.subplots(1, len(langs), figsize=(5 * len(langs), 3.5), squeeze=False)
        for ax, lang in zip(axes[0], langs):
            series = [(kept.get(f"{kind}:{lang}", []), "kept"), (rejected.get(f"{kind}:{lang}", []), "rejected")]
            data = [v for v, _ in series if v]
            lo, hi = (min(map(min, data)), max(map(max, data))) if data else (0, 1)
            low = max(lo, 1)
            bins = np.geomspace(low, max(hi, 2 * low), 40) if log else np.linspace(0, 1, 41)
            for values, label in series:
                if values:
                    ax.hist(values, bins=bins, alpha=0.6, label=f"{label} ({len(values)})")
            if log:
                ax.set_xscale("log")
            ax.set_title(lang)
            ax.set_xlabel(xlabel)
            ax.legend()
        fig.tight_layout()
        path = output_dir / "report" / f"{kind}_histogram.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written
