"""The texts of evaluation sets, as decontamination indexes them: one token stream per benchmark item.

    C-Eval  DIR/{dev,val,test}/<subject>_{dev,val,test}.csv   header id,question,A,B,C,D,answer[,explanation]
    CMMLU   DIR/{dev,test}/<subject>.csv                       header ,Question,A,B,C,D,Answer (index column)
    MMLU    DIR/{dev,val,test}/<subject>_{dev,val,test}.csv    no header: question,A,B,C,D,answer
    any     FILE.jsonl                                         one text per record (`text_field`)

These are the layouts `pretrain.evaluation` reads (pretrain/evaluation/mc_data.py); data_pipeline must not
import pretrain, so the few facts needed here — which columns hold the question and the four options, and which
first rows are headers — are read again with the stdlib csv module. An item's text is its question followed by
its four options (the answer is one of them), so a page that copies the item as "question A. … B. … 答案：B"
matches n-grams that span question and options. Every split is read (dev few-shot examples leak as well).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from data_pipeline.errors import UserError


def benchmark_name(path: Path) -> str:
    """cmmlu for .../eval/cmmlu, mytexts for mytexts.jsonl."""
    return path.name.removesuffix(".jsonl") if path.is_file() else path.name


def item_texts(path: Path, text_field: str = "text") -> Iterator[str]:
    """Every item of a benchmark directory (CSV layouts above) or JSON-lines file, as one text."""
    if path.is_file() and path.name.endswith(".jsonl"):
        yield from _jsonl_texts(path, text_field)
    elif path.is_dir():
        files = sorted(path.rglob("*.csv"))
        if not files:
            raise UserError(f"benchmark directory {path} holds no .csv file",
                            "give a C-Eval, CMMLU or MMLU directory, or a .jsonl file of texts")
        for file in files:
            yield from _csv_items(file)
    else:
        raise UserError(f"benchmark {path} is neither a directory of CSV files nor a .jsonl file",
                        "check decontamination.benchmarks")


def _csv_items(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        rows = csv.reader(fh)
        first = next(rows, None)
        if first is None:
            return
        header = [c.strip().lower() for c in first]
        if header[:7] == ["id", "question", "a", "b", "c", "d", "answer"]:
            columns = slice(1, 6)  # C-Eval
        elif header[1:7] == ["question", "a", "b", "c", "d", "answer"]:
            columns = slice(1, 6)  # CMMLU (unnamed index column first)
        else:
            columns = slice(0, 5)  # MMLU: no header, the first row is an item
            yield "\n".join(first[columns])
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error:  # a cell over csv's 128 KiB limit (left process-wide as it is): no question is that long
                continue
            if len(row) >= columns.stop:
                yield "\n".join(row[columns])


def _jsonl_texts(path: Path, text_field: str) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                text = json.loads(line).get(text_field)
                if isinstance(text, str):
                    yield text
