"""The whole pipeline keeps the same text for every id whatever the input order and worker count (issue 27):
the check of bench/check_order_independence.py on a slice of the real corpus, with every dedup stage at work."""

from __future__ import annotations

import json

import pytest

from bench.check_order_independence import check
from tests.data_pipeline.dedup.test_sentence_dedup import FISH, FOOTER_EN, FOOTER_ZH
from tests.real_text import corpus_files


@pytest.mark.slow
def test_reversed_and_shuffled_input_keep_identical_text_with_1_and_2_workers(tmp_path):
    files = {path.name: path.read_text(encoding="utf-8").splitlines()[:60] for path in corpus_files()}
    seen = {json.loads(line)["id"] for lines in files.values() for line in lines}
    files[FISH.name] = [line for line in FISH.read_text(encoding="utf-8").splitlines()
                        if json.loads(line)["id"] not in seen]
    extra = []
    for name, lines in files.items():  # exact copies, and a footer on 11 documents of each language
        for i, line in enumerate(lines[:12]):
            record = json.loads(line)
            footer = FOOTER_ZH if "zh" in name else FOOTER_EN
            extra.append(json.dumps(dict(record, id=f"{record['id']}#footer", text=record["text"] + footer),
                                    ensure_ascii=False))
            if i < 3:
                extra.append(json.dumps(dict(record, id=f"{record['id']}#copy"), ensure_ascii=False))
    files["extra.jsonl"] = extra
    runs = check(files, tmp_path, workers=2, overrides=["filters.enabled=false", "dedup.sentence.max_docs=1"])
    assert [run[0] for run in runs] == ["original, 1 worker(s)", "reversed, 1 worker(s)", "reversed, 2 worker(s)",
                                             "shuffled, 1 worker(s)", "shuffled, 2 worker(s)"]
    assert all(run[2] == 0 for run in runs), runs
    assert runs[0][1] == sum(len(lines) for lines in files.values())
    assert all(run[3]["docs_cut"] >= 20 for run in runs)  # sentence dedup really cut (the same) text
