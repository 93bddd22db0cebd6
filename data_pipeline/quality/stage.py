"""Quality stage: meta.quality_score in [0, 1] from the trained model; below the language threshold: rejected.

A mixed document is scored per language part (zh part with the zh model, en part with the en model) and
gets the character-weighted mean, so it is judged by the matching language's model as the filters do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_pipeline.errors import UserError
from data_pipeline.langid.identify import guess_language
from data_pipeline.langid.script import LangIdConfig, split_by_language
from data_pipeline.quality.config import QualityConfig
from data_pipeline.quality.model import QualityModel
from data_pipeline.stage import ShardInfo, Stage, meta_of, reject


def load_model(path: str | Path) -> QualityModel:
    try:
        return QualityModel.load(path)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"cannot load quality model {path}: {err}",
                        "train one with `python -m data_pipeline.quality train`") from None


def score_record(model: QualityModel, record: dict, langid: LangIdConfig | None = None) -> tuple[str, float]:
    """(language, score) of a record; mixed documents: the length-weighted mean over their language parts."""
    langid = langid or LangIdConfig()
    lang = meta_of(record).get("lang") or guess_language(record["text"], langid).lang  # raw input: no langid yet
    parts = split_by_language(record["text"], lang, langid)
    total = sum(len(text) for text in parts.values()) or 1
    score = sum(model.score(text, part_lang) * len(text) for part_lang, text in parts.items()) / total
    return lang, score


class QualityStage(Stage):
    name = "quality"

    def __init__(self, model: QualityModel, thresholds: dict[str, float | None], langid: LangIdConfig | None = None):
        self.model = model
        self.thresholds = {lang: value if value is not None else model.suggested_threshold(lang)
                           for lang, value in thresholds.items()}
        self.langid = langid or LangIdConfig()

    @classmethod
    def from_config(cls, cfg: QualityConfig, langid: LangIdConfig | None = None) -> QualityStage:
        return cls(load_model(cfg.model_path), {"zh": cfg.threshold_zh, "en": cfg.threshold_en}, langid)

    def threshold_for(self, lang: str) -> float:
        if lang in self.thresholds:
            return self.thresholds[lang]
        return min(self.thresholds.values())  # mixed: the more lenient of the two

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        for record in records:
            lang, score = score_record(self.model, record, self.langid)
            meta_of(record)["quality_score"] = round(score, 5)
            if score < self.threshold_for(lang):
                reject(record, self.name, "low_score")
            yield record
