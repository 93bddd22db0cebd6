"""Language of a document, judged line by line with the trained model (data_pipeline.langid.model).

Lines are grouped into runs of one writing system (Han, Latin, other letters; lines without letters stay with
the run around them) and the model labels each run, so a Chinese page quoting an English paragraph is `mixed`
and its zh and en parts are later judged by their own rules (`split_by_language`). Two languages in one script
(English quoting French) are judged together: one-line runs of a web page's menu words would be too short for
the model to tell apart. Each run votes for its label with its letters (Han characters x3, as a Han character
carries about as much as a short English word); the document is the language holding `doc_majority` of the
votes, `mixed` when zh and en together hold it, else the largest other language. Text with too few letters or
mostly symbols is `other`: there is nothing to identify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data_pipeline.langid.model import load_model, predict_top
from data_pipeline.langid.script import EN, MIXED, OTHER, ZH, LangIdConfig

# The scripts script.count_scripts tells apart, counted with the regex engine instead of a Python loop per
# character (this runs on every line of every document).
_HAN = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\uf900-\ufaff]")
_LATIN = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_HANGUL = re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")

# fastText's labels for written Chinese other than Mandarin (Wu, Cantonese): all zh to this pipeline,
# like Simplified and Traditional script (opencc folds them later when asked).
CHINESE_LABELS = {"zh", "wuu", "yue"}
# Labels a run cannot have without this script in it, and the only labels a Han-dominated run can have.
# lid.176.ftz calls 4 % of single Simplified or Traditional sentences `ja` (31 of 797 sentences of ud_dev's zh
# documents), one `ko` and one `es`; Japanese is never written without kana for a whole run, nor Korean without
# Hangul. The model's next label that fits is taken instead (of its best CANDIDATES).
REQUIRED_SCRIPT = {"ja": _KANA, "ko": _HANGUL, **{label: _HAN for label in CHINESE_LABELS}}
CANDIDATES = 5


@dataclass(frozen=True)
class LanguageGuess:
    lang: str
    score: float  # the model's probability, weighted over the runs that voted for `lang` (mixed: zh and en)
    votes: dict  # per language: the letter weight of the runs the model gave it


def _line_script(line: str) -> tuple[str | None, int, int, int]:
    """(script of the line or None without letters, its vote weight, letters, non-space chars)."""
    letters = len(_LETTER.findall(line))
    nonspace = sum(map(len, line.split()))
    if not letters:
        return None, 0, 0, nonspace
    han = len(_HAN.findall(line))
    latin = len(_LATIN.findall(line))
    other = max(letters - han - latin, 0)
    weighted = {ZH: 3 * han, EN: latin, OTHER: 3 * other}
    script = max(weighted, key=weighted.get)
    return script, sum(weighted.values()), letters, nonspace


def script_runs(text: str) -> tuple[list[tuple[str, str, int]], int, int]:
    """([(run text, its script, vote weight)], letters, non-space chars) of `text`."""
    runs: list[tuple[str, str, int]] = []
    lines: list[str] = []
    current, weight, letters_total, nonspace_total = None, 0, 0, 0
    for line in text.split("\n"):
        script, line_weight, letters, nonspace = _line_script(line)
        letters_total += letters
        nonspace_total += nonspace
        if script is not None and script != current and weight:
            runs.append((" ".join(lines), current, weight))
            lines, weight = [], 0
        if script is not None:
            current = script
        lines.append(line)
        weight += line_weight
    if weight:
        runs.append((" ".join(lines), current, weight))
    return runs, letters_total, nonspace_total


def guess_language(text: str, cfg: LangIdConfig) -> LanguageGuess:
    runs, letters, nonspace = script_runs(text)
    total = sum(weight for _, _, weight in runs)
    if nonspace == 0 or letters < cfg.min_letter_ratio * nonspace or total < cfg.min_weight:
        return LanguageGuess(OTHER, round(1.0 - letters / max(nonspace, 1), 4), {})
    model = load_model(cfg.model)
    votes: dict[str, int] = {}
    confidence: dict[str, float] = {}
    for run, script, weight in runs:
        label, prob = _plausible_label(model, run, script)
        label = ZH if label in CHINESE_LABELS else label
        votes[label] = votes.get(label, 0) + weight
        confidence[label] = confidence.get(label, 0.0) + weight * prob
    best = max(votes, key=votes.get)
    if votes[best] >= cfg.doc_majority * total:
        return LanguageGuess(best, round(confidence[best] / total, 4), votes)
    zh_en = votes.get(ZH, 0) + votes.get(EN, 0)
    if zh_en >= cfg.doc_majority * total:
        return LanguageGuess(MIXED, round((confidence.get(ZH, 0.0) + confidence.get(EN, 0.0)) / total, 4), votes)
    others = {lang: n for lang, n in votes.items() if lang not in (ZH, EN)}
    top = max(others, key=others.get)  # zh+en short of the majority: another language holds a real share
    return LanguageGuess(top, round(confidence[top] / total, 4), votes)


def _plausible_label(model, run: str, script: str) -> tuple[str, float]:
    """The model's best label that the run's script allows (`REQUIRED_SCRIPT`); "other" when none of its best
    CANDIDATES is. The best label almost always fits: the others are read only when it does not."""
    best = predict_top(model, run, 1)
    candidates = best if best and _fits(best[0][0], run, script) else predict_top(model, run, CANDIDATES)
    for label, prob in candidates:
        if _fits(label, run, script):
            return label, prob
    return OTHER, 0.0


def _fits(label: str, run: str, script: str) -> bool:
    required = REQUIRED_SCRIPT.get(label)
    if required is None:
        return script != ZH  # a Han-dominated run is Chinese, Japanese or Korean
    return required.search(run) is not None
