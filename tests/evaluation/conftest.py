"""Benchmark directories in the three CSV layouts, a character tokenizer and a model whose answers are forced."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

VOCAB = 512


class CharTokenizer:
    """One id per character (assigned on first sight), so tests know which id each letter has."""

    def __init__(self):
        self.ids: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        return [self.ids.setdefault(ch, 3 + len(self.ids)) for ch in text]


class ForcedModel:
    """Logits favour `token` at every position: a model that always wants to write that character."""

    def __init__(self, token: int, strength: float = 8.0):
        self.token, self.strength, self.calls = token, strength, 0

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        logits = torch.zeros(*input_ids.shape, VOCAB)
        logits[..., self.token] = self.strength
        return logits


# (question, A, B, C, D, answer); option C is always "xx" in the third item, for option-scoring tests.
ZH_ITEMS = [
    ("长江流经哪个城市？", "武汉", "广州", "西安", "昆明", "A"),
    ("一加一等于几？", "三", "二", "四", "五", "B"),
    ("下列哪个是元音字母？", "b", "c", "xx", "d", "B"),
    ("水的化学式是？", "CO2", "H2O", "NaCl", "O2", "B"),
]
EN_ITEMS = [
    ("What is 2 + 2?", "3", "4", "5", "6", "B"),
    ("Which planet is largest?", "Mars", "Venus", "Jupiter", "Earth", "C"),
    ("Pick the vowel.", "b", "c", "xx", "d", "A"),
]
DEV_ZH = [(f"示例问题{i}？", "甲", "乙", "丙", "丁", "ABCD"[i % 4]) for i in range(5)]
DEV_EN = [(f"Example question {i}?", "w", "x", "y", "z", "ABCD"[i % 4]) for i in range(5)]


def _write(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def write_ceval(root: Path) -> Path:
    header = ["id", "question", "A", "B", "C", "D", "answer", "explanation"]
    _write(root / "dev" / "high_school_physics_dev.csv",
           [header] + [[str(i), *row, "解析"] for i, row in enumerate(DEV_ZH)])
    _write(root / "val" / "high_school_physics_val.csv",
           [header] + [[str(i), *row, ""] for i, row in enumerate(ZH_ITEMS)] + [["9", "坏题", "a", "b", "c", "d", "E", ""]])
    # C-Eval's test split is unlabelled: every row is a counted rejection and `auto` evaluates val instead.
    _write(root / "test" / "high_school_physics_test.csv",
           [header[:7]] + [[str(i), *row[:5], ""] for i, row in enumerate(ZH_ITEMS)])
    return root


def write_cmmlu(root: Path) -> Path:
    header = ["", "Question", "A", "B", "C", "D", "Answer"]
    _write(root / "dev" / "chinese_history.csv", [header] + [[str(i), *row] for i, row in enumerate(DEV_ZH)])
    _write(root / "test" / "chinese_history.csv", [header] + [[str(i), *row] for i, row in enumerate(ZH_ITEMS)])
    return root


def write_mmlu(root: Path) -> Path:
    _write(root / "dev" / "astronomy_dev.csv", [list(row) for row in DEV_EN])
    _write(root / "test" / "astronomy_test.csv", [list(row) for row in EN_ITEMS] + [["short row", "a", "b"]])
    return root


@pytest.fixture
def benchmarks(tmp_path: Path) -> dict[str, Path]:
    return {
        "ceval": write_ceval(tmp_path / "ceval"),
        "cmmlu": write_cmmlu(tmp_path / "cmmlu"),
        "mmlu": write_mmlu(tmp_path / "mmlu"),
    }
