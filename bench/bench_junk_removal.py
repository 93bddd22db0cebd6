"""Junk removal and clean-text retention of the pipeline, per language, on ../shared/data/corpus + generated junk.

    .venv/bin/python bench/bench_junk_removal.py [--no-quality] [--junk-per-lang 600] [--out DIR]

Runs the real `data_pipeline.run` (all stages, dedup included) on the corpus plus junk from
`data_pipeline.quality.junk`, then reports per language: the share of junk rejected, the share of clean
Wikipedia/novel documents kept, and the noisy web text (EWT) kept, with the rules that fired.
Goal (issue 4): removal >= 0.95 with retention >= 0.97.

Unless --no-quality, a quality model is first trained on 80% of the clean documents (split by id hash) against
junk generated with another seed; retention is reported on all clean documents and on the 20% the model never
saw ("heldout"). The heuristic thresholds were tuned on this same corpus: the heuristic-only numbers are
in-sample.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

from data_pipeline.config import compose_pipeline_config
from data_pipeline.formats.jsonl import read_jsonl, write_jsonl
from data_pipeline.quality.junk import generate_junk
from data_pipeline.quality.train import TrainConfig, is_held_out, train_quality_model
from data_pipeline.run import run

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "corpus"
CLEAN = {"zh": ["zh_wiki_cmrc2018", "zh_wiki_gsdsimp"], "en": ["en_novel_botchan"]}
NOISY = {"en": ["en_web_ewt"]}


def load(name: str) -> list[dict]:
    return list(read_jsonl(CORPUS / f"{name}.jsonl"))


def group_of(record_id: str, kind: dict[str, str]) -> str:
    return kind.get(record_id, "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-quality", action="store_true", help="heuristics only, no quality model")
    parser.add_argument("--junk-per-lang", type=int, default=600)
    parser.add_argument("--out", default=None)
    parser.add_argument("--show", type=int, default=0, help="print this many wrongly kept/rejected examples")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"error: {CORPUS} not found — this benchmark needs ../shared/data/corpus")
    work = Path(args.out or tempfile.mkdtemp(prefix="junkbench-"))
    group: dict[str, str] = {}  # id -> "clean:zh" | "junk:zh" | "noisy:en" ...
    inputs = []
    for lang in ("zh", "en"):
        clean = [r for name in CLEAN[lang] for r in load(name)]
        for r in clean:
            group[r["id"]] = f"clean:{lang}"
        junk = generate_junk([r["text"] for r in clean], lang, args.junk_per_lang, seed=7)
        for r in junk:
            group[r["id"]] = f"junk:{lang}"
        noisy = [r for name in NOISY.get(lang, []) for r in load(name)]
        for r in noisy:
            group[r["id"]] = f"noisy:{lang}"
        path = work / "in" / f"{lang}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(path, clean + junk + noisy)
        inputs.append(str(path))
        # The trainer holds out the same 20% of ids (is_held_out), so those are never trained on.
        write_jsonl(work / "train" / f"{lang}.jsonl", clean)
    overrides = [f"input.paths=[{','.join(inputs)}]", f"output.dir={work / 'out'}", "executor.workers=1",
                 "executor.progress=false", "report.enabled=false"]
    if not args.no_quality:
        model_path = work / "quality_model.npz"
        model = train_quality_model(TrainConfig(positive=[str(work / "train")], out=str(model_path), seed=100,
                                                holdout=0.2))
        print(json.dumps({"quality_model": model.metrics}))
        overrides.append(f"quality.model_path={model_path}")
    run(compose_pipeline_config(overrides))
    totals: collections.Counter = collections.Counter()
    kept: collections.Counter = collections.Counter()
    reasons: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    wrong: list[tuple[str, dict]] = []
    heldout_kept: collections.Counter = collections.Counter()
    for path in sorted((work / "out" / "kept").glob("*.jsonl.gz")):
        for r in read_jsonl(path):
            kept[group[r["id"]]] += 1
            heldout_kept[group[r["id"]]] += is_held_out(r["id"], 0.2)
            if group[r["id"]].startswith("junk"):
                wrong.append(("kept junk", r))
    for path in sorted((work / "out" / "rejected").glob("*.jsonl.gz")):
        for r in read_jsonl(path):
            reasons[group[r["id"]]][r["reject_reason"]] += 1
            if group[r["id"]].startswith("clean"):
                wrong.append(("rejected clean", r))
    heldout_totals: collections.Counter = collections.Counter()
    for record_id, g in group.items():
        totals[g] += 1
        heldout_totals[g] += is_held_out(record_id, 0.2)
    result = {}
    for lang in ("zh", "en"):
        junk_total, clean_total = totals[f"junk:{lang}"], totals[f"clean:{lang}"]
        result[lang] = {
            "junk_docs": junk_total,
            "junk_removal": round(1 - kept[f"junk:{lang}"] / junk_total, 4),
            "clean_docs": clean_total,
            "clean_retention": round(kept[f"clean:{lang}"] / clean_total, 4),
            "heldout_clean_docs": heldout_totals[f"clean:{lang}"],
            "heldout_clean_retention": round(heldout_kept[f"clean:{lang}"] / max(heldout_totals[f"clean:{lang}"], 1), 4),
        }
        if totals[f"noisy:{lang}"]:
            result[lang]["noisy_web_retention"] = round(kept[f"noisy:{lang}"] / totals[f"noisy:{lang}"], 4)
    print(json.dumps(result, indent=1))
    for g in sorted(reasons):
        print(g, dict(reasons[g].most_common(8)))
    for label, r in wrong[: args.show]:
        print(f"--- {label} {r['id']} {r.get('reject_reason', '')} {r.get('junk_kind', '')}")
        print(r["text"][:300].replace("\n", " / "))


if __name__ == "__main__":
    main()
