"""Write OUT/report.md from stats.json and the kept/rejected records (histograms via matplotlib)."""

from __future__ import annotations

from pathlib import Path

from data_pipeline.report.histograms import plot_histograms


def stage_table(stats: dict) -> list[str]:
    rows = ["| stage | docs in | kept | rejected | chars in | chars kept | top rules |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for name, s in stats["stages"].items():
        top = sorted(s["rules"].items(), key=lambda kv: -kv[1]["docs"])[:4]
        rules = ", ".join(f"{rule} ({slot['docs']})" for rule, slot in top)
        rows.append(f"| {name} | {s['docs_in']} | {s['docs_kept']} | {s['docs_rejected']} | {s['chars_in']} | "
                    f"{s['chars_kept']} | {rules} |")
    return rows


def outcome_table(groups: dict[str, dict], label: str) -> list[str]:
    """One row per language or source: what was kept, what was rejected and by which rules, why lines went."""
    rows = [f"| {label} | docs kept | docs rejected | chars kept | chars rejected | top rules | lines dropped |",
            "|---|---:|---:|---:|---:|---|---|"]
    for name, g in groups.items():
        top = sorted(g["rules"].items(), key=lambda kv: (-kv[1]["docs"], kv[0]))[:4]
        rules = ", ".join(f"{rule} ({slot['docs']})" for rule, slot in top)
        lines = ", ".join(f"{reason} ({slot['lines']})" for reason, slot in g["lines_dropped"].items())
        rows.append(f"| {name} | {g['docs_kept']} | {g['docs_rejected']} | {g['chars_kept']} | {g['chars_rejected']}"
                    f" | {rules} | {lines} |")
    return rows


def write_report(output_dir: Path, stats: dict) -> Path:
    totals = stats["totals"]
    lines = ["# Pipeline report", "",
             f"Read {totals['docs_read']} documents: kept {totals['docs_kept']}, rejected {totals['docs_rejected']}.",
             "", "## Stages", "", *stage_table(stats), ""]
    for key, title, label in (("by_language", "By language", "lang"), ("by_source", "By source", "source")):
        if stats.get(key):
            lines += [f"## {title}", "", *outcome_table(stats[key], label), ""]
    images = plot_histograms(Path(output_dir))
    if images:
        lines += ["## Histograms", ""] + [f"![{p.stem}](report/{p.name})" for p in images] + [""]
    else:
        lines += ["(histograms skipped: matplotlib is not installed)", ""]
    if stats["errors"]:
        lines += ["## Unreadable inputs", ""] + [f"- `{e['source']}`: {e['error']}" for e in stats["errors"]] + [""]
    path = Path(output_dir) / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
