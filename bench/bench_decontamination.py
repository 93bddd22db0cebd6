"""Benchmark decontamination on the real CMMLU: recall on pasted test items, false positives on clean text.

    .venv/bin/python bench/bench_decontamination.py [--ngram-zh 20] [--ngram-en 13] [--limit N]

Index: every split of ../shared/data/eval/cmmlu (dev + test). Clean: every document of ../shared/data/corpus
(2,078 zh/en documents) must come out untouched. Contaminated: each CMMLU *test* item is pasted into a corpus
document (the i-th item into document i mod 2,078, at a line boundary or mid-line, seeded), in one of four
layouts a web page might use — lines "A. …" with 答案, one line with full-width labels and punctuation ("Ａ．…"),
extra spaces/newlines between characters, or the question alone followed by the options in a table-like row
("A | B | C | D"); then the question alone (no options) pasted the same way, which a short question cannot be
caught from (it has fewer than n tokens). Prints counts and seconds as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_pipeline.decontaminate import DecontaminationConfig, DecontaminationStage  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "ABCD.,:;?!()"})


def test_items(cmmlu: Path) -> list[tuple[str, list[str], str]]:
    items = []
    for path in sorted((cmmlu / "test").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rows = csv.reader(fh)
            next(rows)
            items += [(row[1], row[2:6], row[6]) for row in rows]
    return items


def in_word(c: str) -> bool:
    """A letter or digit of a space-separated word ("GβF", "1895"), not a CJK character (each its own token)."""
    return c.isalnum() and not ("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff")


def layout(question: str, options: list[str], answer: str, style: int, rng: random.Random) -> str:
    if style == 0:
        return question + "\n" + "\n".join(f"{label}. {o}" for label, o in zip("ABCD", options)) + f"\n答案：{answer}\n"
    if style == 1:
        return (question + " " + " ".join(f"{label}.{o}" for label, o in zip("ABCD", options)) + f" 答案:{answer}").translate(FULL_WIDTH)
    if style == 2:  # stray whitespace and line breaks between characters (not inside a word or number, which
        # would make other words: "1895" -> "18 95", "GβF" -> "G βF")
        text = question + "（　）\n" + "\n".join(f"（{label}）{o}" for label, o in zip("ABCD", options))
        return "".join(c + (rng.choice([" ", "  ", "\n", "\u3000"]) if rng.random() < 0.15 and not
                            (in_word(c) and in_word(n)) else "")
                       for c, n in zip(text, text[1:] + " "))
    return f"{question}\n| {' | '.join(options)} |\n正确答案是{answer}"


def paste(doc: str, snippet: str, rng: random.Random) -> str:
    lines = doc.splitlines(keepends=True)
    at = rng.randrange(len(lines) + 1)
    if rng.random() < 0.5 or not lines:
        return "".join(lines[:at]) + "\n" + snippet + "\n" + "".join(lines[at:])
    cut = rng.randrange(len(doc) + 1)
    return doc[:cut] + "以下是一道练习题：" + snippet + " 欢迎讨论。" + doc[cut:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ngram-zh", type=int, default=20)
    ap.add_argument("--ngram-en", type=int, default=13)
    ap.add_argument("--limit", type=int, default=0, help="only the first N test items (0 = all)")
    args = ap.parse_args()
    docs = [json.loads(line)["text"] for p in sorted((SHARED / "corpus").glob("*.jsonl")) for line in p.open()]
    items = test_items(SHARED / "eval" / "cmmlu")
    items = items[: args.limit] if args.limit else items
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = DecontaminationConfig(benchmarks=[str(SHARED / "eval" / "cmmlu")], ngram_zh=args.ngram_zh,
                                    ngram_en=args.ngram_en)
        stage = DecontaminationStage(cfg, Path(tmp))
        index_meta = json.loads(stage.index_stem.with_suffix(".json").read_text())
        built = time.perf_counter() - started
        t0 = time.perf_counter()
        touched = [i for i, d in enumerate(docs) if stage.find(d) is not None]
        clean_s = time.perf_counter() - t0
        rng = random.Random(0)
        missed_items, missed_questions, t0 = [], [], time.perf_counter()
        for i, (question, options, answer) in enumerate(items):
            doc = docs[i % len(docs)]
            if stage.find(paste(doc, layout(question, options, answer, i % 4, rng), rng)) is None:
                missed_items.append(i)
            if stage.find(paste(doc, question, rng)) is None:
                missed_questions.append(i)
        pasted_s = time.perf_counter() - t0
    short_questions = sum(1 for i in missed_questions if len(items[i][0]) < 40)
    print(json.dumps({
        "ngram_zh": args.ngram_zh, "ngram_en": args.ngram_en, "index": index_meta["benchmarks"],
        "index_build_s": round(built, 1),
        "clean_docs": len(docs), "clean_docs_touched": len(touched), "touched_ids": touched[:20],
        "clean_s": round(clean_s, 1),
        "pasted_items": len(items), "pasted_items_caught": len(items) - len(missed_items),
        "missed_items_by_layout": [sum(1 for i in missed_items if i % 4 == s) for s in range(4)],
        "missed_items": [items[i][0] for i in missed_items[:10]],
        "pasted_questions_alone": len(items), "questions_alone_caught": len(items) - len(missed_questions),
        "missed_questions_under_40_chars": short_questions,
        "pasted_s": round(pasted_s, 1),
    }, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
