"""Language-id stage: sets meta.lang (ISO 639-1, or zh/en/mixed/other), meta.lang_score (the model's confidence) and
meta.lang_votes; rejects languages not in `langid.keep` as langid:<code>."""

from __future__ import annotations

from collections.abc import Iterator

from data_pipeline.langid.identify import guess_language
from data_pipeline.langid.script import LangIdConfig
from data_pipeline.stage import ShardInfo, Stage, meta_of, reject


class LangIdStage(Stage):
    name = "langid"

    def __init__(self, cfg: LangIdConfig | None = None):
        self.cfg = cfg or LangIdConfig()

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        for record in records:
            guess = guess_language(record["text"], self.cfg)
            meta = meta_of(record)
            meta["lang"], meta["lang_score"], meta["lang_votes"] = guess.lang, guess.score, guess.votes
            if guess.lang not in self.cfg.keep:
                reject(record, self.name, guess.lang)
            yield record
