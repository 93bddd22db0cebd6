"""The optional PII stage: replaces personal data (data_pipeline.pii.detect) with fixed placeholders.

Off by default (`pii.enabled=false`): the replacement is irreversible and changes the text the model learns
from (a tutorial's example address, a shop's listed service number), so whoever builds a corpus decides; a
crawl of the open web should turn it on. It runs after the filters and the quality score (they judge the
text as written) and before dedup (pages that differ only in an address become exact duplicates). Each record
gets `meta.pii` = {kind: replacements}; stats.json sums them per language and source (`pii`) and overall.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from data_pipeline.errors import UserError
from data_pipeline.pii.detect import KIND_NAMES, replace_pii
from data_pipeline.stage import ShardInfo, Stage, meta_of, text_of


@dataclass
class PiiConfig:
    enabled: bool = False  # replace e-mails, IPs, CN phone/ID/bank-card numbers with placeholders (docs/pipeline.md)
    kinds: list[str] = field(default_factory=lambda: list(KIND_NAMES))  # which kinds to replace
    public_ips_only: bool = True  # leave private, loopback and documentation IP addresses (not anybody's)

    def validate(self) -> None:
        unknown = sorted(set(self.kinds) - set(KIND_NAMES))
        if unknown:
            raise UserError(f"pii.kinds has unknown kinds {unknown}", f"use some of {list(KIND_NAMES)}")


class PiiStage(Stage):
    name = "pii"

    def __init__(self, cfg: PiiConfig):
        cfg.validate()
        self.kinds = tuple(cfg.kinds)
        self.public_ips_only = cfg.public_ips_only

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        for record in records:
            text = text_of(record)
            if text:
                replaced, counts = replace_pii(text, self.kinds, self.public_ips_only)
                if counts:
                    record["text"] = replaced
                    meta_of(record)["pii"] = counts
            yield record
