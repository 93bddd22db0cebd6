"""Benchmark decontamination (issue 24 item 5): real CMMLU items pasted into real documents — with full-width
punctuation, option labels and stray whitespace — are caught; clean documents are untouched; reasons and
counts reach stats.json."""

from __future__ import annotations

import csv
import gzip
import json
import random
from pathlib import Path

import pytest

from data_pipeline.decontaminate import DecontaminationConfig, DecontaminationStage
from data_pipeline.errors import UserError
from data_pipeline.run import main
from data_pipeline.stage import ShardInfo
from tests.real_text import corpus_records

REPO = Path(__file__).resolve().parents[2]
EXCERPT = REPO / "tests" / "fixtures" / "cmmlu_excerpt"
SHARED_CMMLU = REPO.parent / "shared" / "data" / "eval" / "cmmlu"
FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "ABCD.,:;?!()"})
SHARD = ShardInfo(0, 1, "s")


def cmmlu_items(directory: Path, split: str = "test") -> list[tuple[str, list[str], str]]:
    items = []
    for path in sorted((directory / split).glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            items += [(row[1], row[2:6], row[6]) for row in list(csv.reader(fh))[1:]]
    return items


def pasted(item: tuple[str, list[str], str], style: int) -> str:
    """The item as a web page might carry it: labelled lines, full-width punctuation, or stray whitespace."""
    question, options, answer = item
    if style == 0:
        return question + "\n" + "\n".join(f"{label}. {o}" for label, o in zip("ABCD", options)) + f"\n答案：{answer}"
    if style == 1:
        return (question + " " + " ".join(f"({label}){o}" for label, o in zip("ABCD", options))).translate(FULL_WIDTH)
    text = question + "（　）\n" + "\n".join(f"{label}、{o}" for label, o in zip("ABCD", options))
    return "".join(c + ("  \n" if c in "，的。" else "") for c in text)


def stage(tmp_path, benchmarks, **options) -> DecontaminationStage:
    return DecontaminationStage(DecontaminationConfig(benchmarks=[str(b) for b in benchmarks], **options),
                                tmp_path / "index")


def run(stage_, records: list[dict]) -> list[dict]:
    return list(stage_.run(iter([json.loads(json.dumps(r)) for r in records]), SHARD))


@pytest.fixture(scope="module")
def clean_docs() -> list[dict]:
    records = corpus_records()
    return records[:: max(1, len(records) // 300)]  # ~300 zh/en documents of the corpus


def test_pasted_excerpt_items_are_rejected_and_clean_documents_untouched(tmp_path, clean_docs):
    decontam = stage(tmp_path, [EXCERPT])
    items = cmmlu_items(EXCERPT, "test") + cmmlu_items(EXCERPT, "dev")
    dirty = []
    for i, item in enumerate(items):
        for style in range(3):
            doc = clean_docs[(3 * i + style) % len(clean_docs)]
            cut = len(doc["text"]) // 2
            dirty.append({"id": f"d{i}-{style}",
                          "text": doc["text"][:cut] + "\n练习：" + pasted(item, style) + "\n" + doc["text"][cut:]})
    out = run(decontam, dirty + clean_docs)
    assert [r.get("reject_reason") for r in out[: len(dirty)]] == ["decontam:cmmlu_excerpt"] * len(dirty)
    assert out[len(dirty):] == clean_docs  # not a field added


def test_real_cmmlu_test_items_are_caught_and_the_corpus_is_untouched(tmp_path, clean_docs):
    if not SHARED_CMMLU.is_dir():
        pytest.skip(f"CMMLU not found at {SHARED_CMMLU}")
    decontam = stage(tmp_path, [SHARED_CMMLU])
    items = cmmlu_items(SHARED_CMMLU)[::97]  # ~120 items over every subject
    dirty = [{"id": str(i), "text": doc["text"] + "\n" + pasted(item, i % 3)}
             for i, (item, doc) in enumerate(zip(items, random.Random(0).choices(clean_docs, k=len(items))))]
    assert all(r.get("reject_reason") == "decontam:cmmlu" for r in run(decontam, dirty))
    assert run(decontam, clean_docs) == clean_docs


def test_cut_lines_mode_removes_only_the_lines_an_item_covers(tmp_path, clean_docs):
    decontam = stage(tmp_path, [EXCERPT], mode="cut_lines")
    item = cmmlu_items(EXCERPT)[0]
    before, after = "第一段正常的文字。\n", "最后一段正常的文字。\n"
    [record] = run(decontam, [{"id": "x", "text": before + pasted(item, 0) + "\n" + after}])
    assert "reject_reason" not in record
    # question and the four option lines go; "答案：D" holds no item text (the answer is an option's letter)
    assert record["text"] == before + f"答案：{item[2]}\n" + after
    assert record["meta"]["lines_dropped"] == {"decontam:cmmlu_excerpt": 5}
    [alone] = run(decontam, [{"id": "y", "text": "\n".join(pasted(item, 0).splitlines()[:5])}])
    assert alone["reject_reason"] == "decontam:cmmlu_excerpt"  # nothing left


def test_jsonl_benchmark_uses_13_word_ngrams(tmp_path):
    bench = tmp_path / "held_out_qa.jsonl"
    sentence = "The quick brown fox jumps over the lazy dog while the farmer watches from his porch"
    bench.write_text(json.dumps({"text": sentence}) + "\n")
    decontam = stage(tmp_path, [bench])
    words = sentence.split()
    out = run(decontam, [
        {"id": "hit", "text": "Intro.  " + " ".join(words[2:15]).upper() + " — end."},  # 13 words, other case
        {"id": "miss", "text": "Intro. " + " ".join(words[2:14]) + " end."},  # 12 words
    ])
    assert [r.get("reject_reason") for r in out] == ["decontam:held_out_qa", None]


def test_pipeline_counts_rejections_per_benchmark_in_stats(tmp_path, clean_docs):
    item = cmmlu_items(EXCERPT)[1]
    records = [dict(r, id=f"c{i}") for i, r in enumerate(clean_docs[:6])]
    records[0] = dict(records[0], text=records[0]["text"] + "\n" + pasted(item, 1))
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    out = tmp_path / "out"
    assert main([f"input.paths=[{data}]", f"output.dir={out}", "executor.workers=1", "executor.progress=false",
                 "filters.enabled=false", f"decontamination.benchmarks=[{EXCERPT}]"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    rules = stats["stages"]["decontam"]["rules"]  # per benchmark
    assert list(rules) == ["cmmlu_excerpt"] and rules["cmmlu_excerpt"]["docs"] == 1
    rejected = [json.loads(line) for p in (out / "rejected").glob("*.gz") for line in gzip.open(p, "rt")]
    assert [r["id"] for r in rejected if r["reject_reason"] == "decontam:cmmlu_excerpt"] == ["c0"]


def test_bad_settings_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="decontamination.mode"):
        stage(tmp_path, [EXCERPT], mode="drop")
    with pytest.raises(UserError, match="does not exist"):
        stage(tmp_path, [tmp_path / "nowhere"])


def test_reading_benchmarks_leaves_csvs_field_limit_alone(tmp_path):
    # The reader raised csv's process-wide field limit at import, so pretrain.evaluation then accepted a 200 KB
    # cell it must reject (tests/evaluation/test_multiple_choice.py failed after this module was imported).
    import csv

    from data_pipeline.decontaminate.benchmarks import item_texts

    (tmp_path / "x_test.csv").write_text("Q1,a,b,c,d,A\n" + "y" * 200_000 + ",a,b,c,d,B\nQ3,a,b,c,d,C\n")
    assert list(item_texts(tmp_path)) == ["Q1\na\nb\nc\nd", "Q3\na\nb\nc\nd"]
    assert csv.field_size_limit() == 131072
