"""Language identification: accuracy per language and documents per CPU-second, our stage vs the model alone.

    .venv/bin/python bench/bench_langid.py [--repeat 3]

Documents: ../shared/data/langid/ud_dev.jsonl (real sentences of 12 Universal Dependencies treebanks, 100 per
treebank; its README). Goals (issue 23): zh and en documents labelled zh/en >= 0.99; every other language
labelled with its own code >= 0.95; of the other languages' documents, >= 0.99 not labelled zh or en.
Throughput is CPU time (time.process_time) for the same documents in the same run: our LangIdStage (script
runs, one model call per run, votes, meta fields) against lid.176's `predict` called directly once per document
(newlines replaced, as fastText needs). Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_pipeline.langid import LangIdConfig, LangIdStage  # noqa: E402
from data_pipeline.langid.model import load_model  # noqa: E402
from data_pipeline.stage import ShardInfo  # noqa: E402

DATA = REPO / ".." / "shared" / "data" / "langid" / "ud_dev.jsonl"
SHARD = ShardInfo(0, 1, "bench")


def ours(docs: list[dict]) -> list[str]:
    records = ({"id": d["id"], "text": d["text"]} for d in docs)
    return [r["meta"]["lang"] for r in LangIdStage(LangIdConfig()).run(records, SHARD)]


def model_alone(docs: list[dict]) -> list[str]:
    model = load_model("")
    return [model.predict(d["text"].replace("\n", " "), k=1)[0][0] for d in docs]


def cpu_rate(fn, docs: list[dict], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn(docs)
        best = min(best, time.process_time() - started)
    return len(docs) / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the fastest counts")
    args = parser.parse_args()
    docs = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    load_model("")  # loading is not part of either rate
    labels = ours(docs)
    per_lang: dict[str, Counter] = {}
    for doc, label in zip(docs, labels):
        per_lang.setdefault(doc["lang"], Counter())[label] += 1
    failures = []
    print(f"{'lang':<5} {'docs':>5} {'correct':>8}  labels")
    for lang in sorted(per_lang):
        counts = per_lang[lang]
        share = counts[lang] / sum(counts.values())
        goal = 0.99 if lang in ("zh", "en") else 0.95
        print(f"{lang:<5} {sum(counts.values()):>5} {share:>8.3f}  {dict(counts.most_common())}")
        if share < goal:
            failures.append(f"{lang} {share:.3f} < {goal}")
    others = [label for doc, label in zip(docs, labels) if doc["lang"] not in ("zh", "en")]
    not_zh_en = sum(label not in ("zh", "en", "mixed") for label in others) / len(others)
    print(f"other languages not labelled zh/en/mixed: {not_zh_en:.4f} of {len(others)}")
    if not_zh_en < 0.99:
        failures.append(f"other languages kept as zh/en: {1 - not_zh_en:.4f}")
    ours_rate = cpu_rate(ours, docs, args.repeat)
    model_rate = cpu_rate(model_alone, docs, args.repeat)
    print(f"docs per CPU-second: ours (LangIdStage) {ours_rate:,.0f}, lid.176 predict alone {model_rate:,.0f}, "
          f"ratio {ours_rate / model_rate:.2f}")
    if failures:
        print("missed: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
