"""Fixtures shared by the pipeline tests: small zh/en documents, input-file writers, the real corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.real_text import real_corpus_dir

ZH_DOCS = [
    "长江是亚洲第一长河，全长约六千三百公里，流经青海、西藏、四川、云南、重庆、湖北、湖南、江西、安徽、江苏和上海。"
    "长江流域是中国经济最发达的地区之一，沿岸有许多重要的城市，例如武汉、南京和上海。",
    "围棋是一种两人对弈的策略型棋类游戏，起源于中国，至今已有四千多年的历史。"
    "棋盘由纵横各十九条线组成，双方轮流在交叉点上落子，以围地多者为胜。现代围棋在日本和韩国也非常流行。",
    "茶是中国人日常生活中不可缺少的饮品。中国的茶叶种类很多，有绿茶、红茶、乌龙茶和白茶等。"
    "不同地区的人喜欢喝不同的茶，饮茶的习惯也随着丝绸之路传到了世界各地。",
]
EN_DOCS = [
    "The river flows slowly through the valley, and the farmers who live along its banks have used its water "
    "for centuries. In the spring the snow melts in the mountains and the river rises, so the villages were "
    "built on higher ground. Today a small museum in the old mill tells the story of the valley and its people.",
    "Chess is a board game played between two players on a checkered board with sixty-four squares. Each "
    "player begins with sixteen pieces, and the goal of the game is to checkmate the opposing king. The modern "
    "rules were settled in Europe in the fifteenth century, and the game is now played all over the world.",
    "Bread is one of the oldest prepared foods. People have baked it for thousands of years, and almost every "
    "culture has a bread of its own. The basic recipe is simple: flour, water and salt, with yeast or a "
    "sourdough starter to make the dough rise before it is baked in a hot oven.",
]


@pytest.fixture
def clean_records() -> list[dict]:
    return [{"id": f"zh-{i}", "text": t} for i, t in enumerate(ZH_DOCS)] + \
        [{"id": f"en-{i}", "text": t} for i, t in enumerate(EN_DOCS)]


@pytest.fixture
def write_lines(tmp_path):
    """write_lines("name.jsonl", [str | bytes | dict, ...]) -> path; dicts become JSON lines."""

    def write(name: str, lines: list) -> Path:
        path = tmp_path / name
        chunks = []
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line, ensure_ascii=False)
            chunks.append(line if isinstance(line, bytes) else line.encode("utf-8"))
        path.write_bytes(b"\n".join(chunks) + b"\n")
        return path

    return write


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Real zh/en text: the shared corpus, or the sample shipped in tests/fixtures (tests/real_text.py)."""
    return real_corpus_dir()
