"""Multiple-choice benchmarks on disk: the CSV layouts of C-Eval, CMMLU and MMLU, read into one item type.

    C-Eval  DIR/{dev,val,test}/<subject>_{dev,val,test}.csv   header id,question,A,B,C,D,answer[,explanation]
    CMMLU   DIR/{dev,test}/<subject>.csv                       header ,Question,A,B,C,D,Answer (index column)
    MMLU    DIR/{dev,val,test}/<subject>_{dev,val,test}.csv    no header: question,A,B,C,D,answer

The layout is recognised per file from its first row, the split from a `_dev/_val/_test` name suffix or else the
parent folder, the subject from the file name. A row that cannot be an item (wrong column count, an answer that
is not A-D, e.g. C-Eval's unlabelled test split, bytes that are not UTF-8, a cell over the csv module's field
limit) is counted as a rejection with its reason, never dropped silently.
"""

from __future__ import annotations

import csv
import difflib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from data_pipeline.text_validity import INVALID_TEXT, holds_lone_surrogate
from plumbing.user_error import UserError
from pretrain.evaluation.cmmlu_subjects import CMMLU_SUBJECT_NAMES

LETTERS = ("A", "B", "C", "D")
SPLITS = ("dev", "val", "test")


@dataclass(frozen=True)
class McItem:
    question: str
    options: tuple[str, str, str, str]
    answer: str  # one of LETTERS


@dataclass
class McSubject:
    name: str  # file-name form, e.g. "high_school_physics"
    layout: str  # ceval | cmmlu | mmlu
    splits: dict[str, list[McItem]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The subject as it appears in the prompt: CMMLU's Chinese name ("高中物理学"), else "high school physics"."""
        if self.layout == "cmmlu" and self.name in CMMLU_SUBJECT_NAMES:
            return CMMLU_SUBJECT_NAMES[self.name]
        return self.name.replace("_", " ")


@dataclass
class McBenchmark:
    subjects: dict[str, McSubject]
    rejected: Counter  # "<reason>" -> rows

    def eval_items(self, subject: McSubject, split: str) -> tuple[str, list[McItem]]:
        """(split used, items) — `auto` takes test when it holds labelled items, else val (C-Eval's test is unlabelled)."""
        if split != "auto":
            return split, subject.splits.get(split, [])
        for candidate in ("test", "val"):
            if subject.splits.get(candidate):
                return candidate, subject.splits[candidate]
        return "test", []


def detect_layout(first_row: list[str]) -> str:
    cells = [c.strip().lower() for c in first_row]
    if cells[:7] == ["id", "question", "a", "b", "c", "d", "answer"]:
        return "ceval"
    if cells[1:7] == ["question", "a", "b", "c", "d", "answer"]:
        return "cmmlu"
    return "mmlu"


def split_and_subject(path: Path) -> tuple[str, str]:
    stem = path.stem
    for split in SPLITS:
        if stem.endswith(f"_{split}"):
            return split, stem[: -len(split) - 1]
    parent = path.parent.name.lower()
    return (parent if parent in SPLITS else "test"), stem


def _row_to_item(row: list[str], layout: str) -> tuple[McItem | None, str]:
    offset = {"ceval": 1, "cmmlu": 1, "mmlu": 0}[layout]  # C-Eval's id and CMMLU's index come first
    if len(row) < offset + 6:
        return None, "too_few_columns"
    cells = row[offset : offset + 6]
    # CMMLU's own code reads its CSVs with pandas, which keeps a cell's spaces (407 real cells end in one, e.g.
    # "0.2÷0.5 "), so its prompts hold them; the other layouts' cells are stripped as before.
    question, a, b, c, d = cells[:5] if layout == "cmmlu" else (cell.strip() for cell in cells[:5])
    answer = cells[5].strip()
    if not answer:
        return None, "no_answer"
    if answer.upper() not in LETTERS:
        return None, "answer_not_a_to_d"
    if not question.strip():
        return None, "empty_question"
    return McItem(question, (a, b, c, d), answer.upper()), ""


def _csv_rows(path: Path, rejected: Counter) -> list[list[str]]:
    """The non-blank rows of `path`. Bytes that are not UTF-8 decode to lone surrogates (surrogateescape), so the
    row holding them is rejected by the same rule as every other text reader (`invalid_text`) instead of the
    whole file raising UnicodeDecodeError; a cell over csv's field limit (128 KiB) costs its row only."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return rows
            except csv.Error:  # the reader resumes at the next line
                rejected["field_too_long"] += 1
                continue
            if not any(cell.strip() for cell in row):
                continue
            if holds_lone_surrogate(row):
                rejected[INVALID_TEXT] += 1
                continue
            rows.append(row)


def read_benchmark_csv(path: Path) -> tuple[str, list[McItem], Counter]:
    """(layout, items, rejections) of one CSV file."""
    rejected: Counter = Counter()
    rows = _csv_rows(path, rejected)
    if not rows:
        return "mmlu", [], rejected
    layout = detect_layout(rows[0])
    items = []
    for row in rows[1:] if layout != "mmlu" else rows:
        item, reason = _row_to_item(row, layout)
        if item is None:
            rejected[reason] += 1
        else:
            items.append(item)
    return layout, items, rejected


class UnknownSubjectError(UserError):
    """`subjects=` names a subject the benchmark directory does not hold."""


def check_subjects(root: Path, requested: list[str], available: set[str]) -> None:
    """One line naming each requested subject that is not in `available`, with the closest names (difflib)."""
    unknown = [name for name in requested if name not in available]
    if not unknown or not available:
        return
    def closest(name: str) -> str:
        return ", ".join(difflib.get_close_matches(name, sorted(available), n=3, cutoff=0.5)) or "none close"

    named = "; ".join(f"{name!r} (closest: {closest(name)})" for name in unknown)
    raise UnknownSubjectError(f"subjects: no subject {named} under {root}",
                              f"name subjects as their CSV files are named ({len(available)} there)")


def load_benchmark(data_dir: str | Path, subjects: list[str] | None = None) -> McBenchmark:
    """Every `*.csv` under `data_dir` (recursively); `subjects` keeps only those names (each must exist)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark directory {root} does not exist — give data_dir=<C-Eval/CMMLU/MMLU dir>")
    paths = sorted(root.rglob("*.csv"))
    check_subjects(root, list(subjects or []), {split_and_subject(path)[1] for path in paths})
    found: dict[str, McSubject] = {}
    rejected: Counter = Counter()
    for path in paths:
        split, name = split_and_subject(path)
        if subjects and name not in subjects:
            continue
        layout, items, file_rejected = read_benchmark_csv(path)
        rejected.update(file_rejected)
        subject = found.setdefault(name, McSubject(name, layout))
        subject.splits.setdefault(split, []).extend(items)
    if not found:
        raise FileNotFoundError(f"no benchmark CSV files under {root} — expected <subject>_test.csv / test/<subject>.csv")
    return McBenchmark(found, rejected)
