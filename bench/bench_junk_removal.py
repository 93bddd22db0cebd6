"""Junk removal and clean-text retention of the pipeline, per language, on ../shared/data/corpus + generated junk.

    .venv/bin/python bench/bench_junk_removal.py [--no-quality] [--junk-per-lang 600] [--out DIR]
                                                 [--removals] [--rules] [--target-retention 0.995]

Runs the real `data_pipeline.run` (all stages, dedup included) on the corpus plus junk from
`data_pipeline.quality.junk`, then reports per language: the share of junk rejected, the share of clean
Wikipedia/novel documents kept, and the noisy web text (EWT) kept, with the rules that fired.
Goal (issue 4): removal >= 0.95 with retention >= 0.97.

Per source file it also reports documents and characters kept (characters against the normalized input, so
normalization's tag and whitespace removal is not counted as loss; goal of issue 27: >= 99.5 % of the
characters of the Wikipedia and novel sources). `--removals` lists every removal from a clean source: a
rejected document with its rule, a removed line with its reason, a sentence removed by sentence dedup.
`--rules` adds each document filter's and the line cleaner's rejection rate on every source and on the junk,
each stage judging every document on its own (not only what earlier stages let through): the clean-text
false-rejection rate per rule.

Unless --no-quality, a quality model is first trained as docs/quality_model.md's recipe says: positives from some
sources, held-out clean text from others (`TrainConfig.heldout_positive`), negatives generated junk (another
seed than the benchmark's junk) and the web text's rule rejects. What is held out and why:

* zh: trained on CMRC 2018's dev articles; held out GSDSimp (Wikipedia sentences of another data set, the
  recipe's other source) and CMRC's trial articles (other articles than any trained on: none of their titles is
  a dev title), so the largest Wikipedia source also has text the model never saw.
* en: the only clean source is one novel. Trained on Botchan 0-139 (the Gutenberg header and chapters I-VIII)
  and the EWT web documents of two genres (reviews, answers) as the heuristics leave them (kept: positives;
  rule rejects: negatives); held out Botchan 140-214 (chapters IX-XI and the Project Gutenberg licence
  appended to the book) and the other EWT genres (email, newsgroup, weblog) the same way. The held-out novel
  part is the same book and translator (optimistic for other novels). Web text is trained on because one en
  threshold must keep web text and remove junk: a model that saw only the novel, calibrated on web text, sits
  so low (0.076) that 9 % of the en junk got through the pipeline; calibrated on the novel (the trainer's
  same-source fallback, 19 documents), it kept 8 % of EWT. The heuristic pass over EWT is the pipeline's own
  stages before the model.

The threshold keeps `--target-retention` of the calibration half of the held-out documents (half by id hash);
retention per source is also reported on the other half alone ("never seen": neither trained on nor used for
the threshold). The heuristic thresholds were tuned on this same corpus: the heuristic-only numbers are
in-sample.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

from data_pipeline.config import compose_pipeline_config
from data_pipeline.filters import build_document_filters, build_line_cleaner
from data_pipeline.formats.jsonl import read_jsonl, write_jsonl
from data_pipeline.langid import LangIdStage
from data_pipeline.normalize import NormalizeStage, normalize_text
from data_pipeline.quality.junk import generate_junk
from data_pipeline.quality.model import QualityModel
from data_pipeline.quality.train import TrainConfig, is_held_out, train_quality_model
from data_pipeline.run import run
from data_pipeline.stage import ShardInfo

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "corpus"
CLEAN = {"zh": ["zh_wiki_cmrc2018", "zh_wiki_gsdsimp"], "en": ["en_novel_botchan"]}
NOISY = {"en": ["en_web_ewt"]}
CLEAN_SOURCES = {name for names in CLEAN.values() for name in names}
BOTCHAN_HELDOUT_FROM = 140  # botchan/140 opens chapter IX; 199-214 are the Gutenberg licence (held out too)
EWT_TRAIN_GENRES = ("reviews", "answers")  # held out: email, newsgroup, weblog


def trained_on(record_id: str) -> bool:
    """Whether the benchmark's quality model trains on this document (the module docstring says why)."""
    if record_id.startswith("cmrc2018/"):
        return record_id.startswith("cmrc2018/dev/")
    if record_id.startswith("botchan/"):
        return int(record_id.split("/")[1]) < BOTCHAN_HELDOUT_FROM
    if record_id.startswith("ewt/"):  # ewt/<genre>-<document>
        return record_id.split("/")[1].split("-")[0] in EWT_TRAIN_GENRES
    return False


def model_role(record_id: str) -> str:
    """train | calibrate | evaluate. The halving repeats train._calibrate_and_evaluate's (a salted id hash)."""
    if trained_on(record_id):
        return "train"
    return "calibrate" if is_held_out("calibrate:" + record_id, 0.5) else "evaluate"


def heuristic_pass(cfg, records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(kept, rejected) by the pipeline's stages before the quality model: normalize, langid, document filters,
    line cleaner. Kept records carry the text those stages leave, which is what the model scores in a run."""
    shard = ShardInfo(0, 1, "heuristics")
    stages = [NormalizeStage(cfg.normalize), LangIdStage(cfg.langid),
              *build_document_filters(cfg.filters, cfg.langid), build_line_cleaner(cfg.filters, cfg.langid)]
    stream = iter([{"id": r["id"], "text": r["text"]} for r in records])
    for stage in stages:
        stream = stage.run(stream, shard)
    kept, rejected = [], []
    for r in stream:
        if "reject_reason" in r:
            rejected.append({"id": r["id"], "text": r["text"], "reject_reason": r["reject_reason"]})
        else:
            kept.append({"id": r["id"], "text": r["text"]})
    return kept, rejected


def train_model(cfg, work: Path, sources: dict[str, list[dict]], target_retention: float) -> QualityModel:
    """docs/quality_model.md's recipe: every source split into trained-on and held-out parts by `trained_on`;
    the web text after the heuristics (kept: positive, rule rejects: negative)."""
    for name in [n for names in CLEAN.values() for n in names]:
        write_jsonl(work / "train" / f"{name}.jsonl", [r for r in sources[name] if trained_on(r["id"])])
        write_jsonl(work / "heldout" / f"{name}.jsonl", [r for r in sources[name] if not trained_on(r["id"])])
    for name in [n for names in NOISY.values() for n in names]:
        kept, rejected = heuristic_pass(cfg, sources[name])
        for part, seen in (("train", True), ("heldout", False)):
            write_jsonl(work / part / f"{name}.kept.jsonl", [r for r in kept if trained_on(r["id"]) == seen])
            write_jsonl(work / f"{part}_negative" / f"{name}.rejected.jsonl",
                        [r for r in rejected if trained_on(r["id"]) == seen])
    return train_quality_model(TrainConfig(
        positive=[str(work / "train")], negative=[str(work / "train_negative")],
        heldout_positive=[str(work / "heldout")],
        heldout_negative=[str(work / "heldout_negative")], out=str(work / "quality_model.npz"), seed=100,
        target_retention=target_retention))


def load(name: str) -> list[dict]:
    return list(read_jsonl(CORPUS / f"{name}.jsonl"))


def group_of(record_id: str, kind: dict[str, str]) -> str:
    return kind.get(record_id, "?")


def rule_rates(cfg, sources: dict[str, list[dict]]) -> dict[str, dict]:
    """Per source: documents, and per stage the documents it rejects judging every document on its own."""
    shard = ShardInfo(0, 1, "rules")
    stages = [*build_document_filters(cfg.filters, cfg.langid), build_line_cleaner(cfg.filters, cfg.langid)]
    out = {}
    for name, records in sources.items():
        fresh = ({"id": r["id"], "text": r["text"]} for r in records)
        prepared = list(LangIdStage(cfg.langid).run(NormalizeStage(cfg.normalize).run(fresh, shard), shard))
        fired: collections.Counter = collections.Counter()
        for record in prepared:
            if "reject_reason" in record:
                fired[record["reject_reason"]] += 1
                continue
            for stage in stages:
                copy = json.loads(json.dumps(record))
                [judged] = list(stage.run(iter([copy]), shard))
                if "reject_reason" in judged:
                    fired[judged["reject_reason"]] += 1
        out[name] = {"docs": len(records), "rejections": {k: [n, round(n / len(records), 4)]
                                                          for k, n in fired.most_common()}}
    return out


def retention(cfg, work: Path, sources: dict[str, list[dict]], list_removals: bool,
              with_model: bool) -> dict[str, dict]:
    """Documents and characters kept per source; `with_model`: also on its documents the quality model never
    saw (the evaluation half, `model_role`). With `list_removals`, print each removal from a clean one."""
    kept_text: dict[str, str] = {}
    kept_meta: dict[str, dict] = {}
    rejected: dict[str, str] = {}
    for path in sorted((work / "out" / "kept").glob("*.jsonl.gz")):
        for r in read_jsonl(path):
            kept_text[r["id"]], kept_meta[r["id"]] = r["text"], r.get("meta", {})
    for path in sorted((work / "out" / "rejected").glob("*.jsonl.gz")):
        for r in read_jsonl(path):
            rejected[r["id"]] = r["reject_reason"]
    out = {}
    for name, records in sources.items():
        counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for r in records:
            n = len(normalize_text(r["text"], cfg.normalize))
            role = model_role(r["id"]) if with_model else "-"
            for part in ("all", role):
                counts[part]["docs"] += 1
                counts[part]["chars"] += n
                if r["id"] in kept_text:
                    counts[part]["docs_kept"] += 1
                    counts[part]["chars_kept"] += len(kept_text[r["id"]])
            if not list_removals or name not in CLEAN_SOURCES:
                continue
            if r["id"] in rejected:
                print(f"REMOVED {name} {r['id']} doc {rejected[r['id']]} ({n} chars, quality model: {role}):"
                      f" {r['text'][:120]!r}")
                continue
            meta = kept_meta.get(r["id"], {})
            for line in meta.get("lines_removed", []):
                print(f"REMOVED {name} {r['id']} line line_clean:{line['reason']}: {line['text'][:120]!r}")
            for piece in (meta.get("sentence_dedup") or {}).get("removed", []):
                print(f"REMOVED {name} {r['id']} sentence sentence_dedup (duplicate of {piece.get('duplicate_of')}):"
                      f" {piece['text'][:120]!r}")
        out[name] = _shares(counts["all"])
        if with_model and counts["evaluate"]["docs"]:
            out[name]["never_seen_by_the_model"] = _shares(counts["evaluate"])
    return out


def _shares(c: collections.Counter) -> dict:
    return {"docs": c["docs"], "docs_kept": c["docs_kept"], "docs_kept_share": round(c["docs_kept"] / c["docs"], 4),
            "chars": c["chars"], "chars_kept": c["chars_kept"],
            "chars_kept_share": round(c["chars_kept"] / c["chars"], 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-quality", action="store_true", help="heuristics only, no quality model")
    parser.add_argument("--junk-per-lang", type=int, default=600)
    parser.add_argument("--out", default=None)
    parser.add_argument("--show", type=int, default=0, help="print this many wrongly kept/rejected examples")
    parser.add_argument("--removals", action="store_true", help="list every removal from a clean source")
    parser.add_argument("--rules", action="store_true", help="per-stage rejection rates, each stage on its own")
    parser.add_argument("--target-retention", type=float, default=0.995,
                        help="the quality model's threshold keeps this share of held-out clean documents")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"error: {CORPUS} not found — this benchmark needs ../shared/data/corpus")
    work = Path(args.out or tempfile.mkdtemp(prefix="junkbench-"))
    group: dict[str, str] = {}  # id -> "clean:zh" | "junk:zh" | "noisy:en" ...
    inputs = []
    sources: dict[str, list[dict]] = {}  # source file (or junk:<lang>) -> its records
    for lang in ("zh", "en"):
        for name in CLEAN[lang] + NOISY.get(lang, []):
            sources[name] = load(name)
        clean = [r for name in CLEAN[lang] for r in sources[name]]
        for r in clean:
            group[r["id"]] = f"clean:{lang}"
        junk = generate_junk([r["text"] for r in clean], lang, args.junk_per_lang, seed=7)
        sources[f"junk:{lang}"] = junk
        for r in junk:
            group[r["id"]] = f"junk:{lang}"
        noisy = [r for name in NOISY.get(lang, []) for r in sources[name]]
        for r in noisy:
            group[r["id"]] = f"noisy:{lang}"
        path = work / "in" / f"{lang}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(path, clean + junk + noisy)
        inputs.append(str(path))
    overrides = [f"input.paths=[{','.join(inputs)}]", f"output.dir={work / 'out'}", "executor.workers=1",
                 "executor.progress=false", "report.enabled=false"]
    if not args.no_quality:
        model = train_model(compose_pipeline_config(overrides), work, sources, args.target_retention)
        print(json.dumps({"quality_model": model.metrics}))
        overrides.append(f"quality.model_path={work / 'quality_model.npz'}")
    cfg = compose_pipeline_config(overrides)
    run(cfg)
    totals: collections.Counter = collections.Counter()
    kept: collections.Counter = collections.Counter()
    reasons: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    wrong: list[tuple[str, dict]] = []
    unseen_kept: collections.Counter = collections.Counter()
    for path in sorted((work / "out" / "kept").glob("*.jsonl.gz")):
        for r in read_jsonl(path):
            kept[group[r["id"]]] += 1
            unseen_kept[group[r["id"]]] += model_role(r["id"]) == "evaluate"
            if group[r["id"]].startswith("junk"):
                wrong.append(("kept junk", r))
    for path in sorted((work / "out" / "rejected").glob("*.jsonl.gz")):
        for r in read_jsonl(path):
            reasons[group[r["id"]]][r["reject_reason"]] += 1
            if group[r["id"]].startswith("clean"):
                wrong.append(("rejected clean", r))
    unseen_totals: collections.Counter = collections.Counter()
    for record_id, g in group.items():
        totals[g] += 1
        unseen_totals[g] += model_role(record_id) == "evaluate"
    result = {}
    for lang in ("zh", "en"):
        junk_total, clean_total = totals[f"junk:{lang}"], totals[f"clean:{lang}"]
        result[lang] = {
            "junk_docs": junk_total,
            "junk_removal": round(1 - kept[f"junk:{lang}"] / junk_total, 4),
            "clean_docs": clean_total,
            "clean_retention": round(kept[f"clean:{lang}"] / clean_total, 4),
        }
        if not args.no_quality:  # clean documents neither trained on nor used for the threshold
            result[lang]["never_seen_clean_docs"] = unseen_totals[f"clean:{lang}"]
            result[lang]["never_seen_clean_retention"] = round(
                unseen_kept[f"clean:{lang}"] / max(unseen_totals[f"clean:{lang}"], 1), 4)
        if totals[f"noisy:{lang}"]:
            result[lang]["noisy_web_retention"] = round(kept[f"noisy:{lang}"] / totals[f"noisy:{lang}"], 4)
    print(json.dumps(result, indent=1))
    real = {name: records for name, records in sources.items() if not name.startswith("junk:")}
    print(json.dumps({"retention_per_source": retention(cfg, work, real, args.removals, not args.no_quality)}, indent=1))
    if args.rules:
        print(json.dumps({"rule_rejections_each_stage_alone": rule_rates(cfg, sources)}, indent=1,
                         ensure_ascii=False))
    for g in sorted(reasons):
        print(g, dict(reasons[g].most_common(8)))
    for label, r in wrong[: args.show]:
        print(f"--- {label} {r['id']} {r.get('reject_reason', '')} {r.get('junk_kind', '')}")
        print(r["text"][:300].replace("\n", " / "))


if __name__ == "__main__":
    main()
