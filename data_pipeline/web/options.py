"""How web input becomes text: the config section `input.web` and the frozen options a reader carries."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.errors import UserError
from data_pipeline.web.extract import EXTRACTORS, FAVORS, ExtractOptions


@dataclass
class WebConfig:
    extractor: str = "trafilatura"  # trafilatura | resiliparse (docs/benchmarks.md has both measured)
    favor: str = "precision"  # trafilatura's trade-off: precision | balanced | recall
    max_page_bytes: int = 5_000_000  # a bigger page is rejected as read:page_too_large, never parsed
    warc_shard_mb: int = 256  # a bigger WARC is read as several shards in parallel (split at record starts)


@dataclass(frozen=True)
class WebOptions:
    extract: ExtractOptions = field(default_factory=ExtractOptions)
    max_page_bytes: int = 5_000_000


def web_options(cfg: WebConfig) -> WebOptions:
    """The reader options for `cfg`, or a UserError naming the wrong key."""
    if cfg.extractor not in EXTRACTORS:
        raise UserError(f"input.web.extractor={cfg.extractor!r} is not one of {EXTRACTORS}", "pick one of them")
    if cfg.favor not in FAVORS:
        raise UserError(f"input.web.favor={cfg.favor!r} is not one of {FAVORS}", "pick one of them")
    for key in ("max_page_bytes", "warc_shard_mb"):
        if getattr(cfg, key) <= 0:
            raise UserError(f"input.web.{key}={getattr(cfg, key)} must be positive", "set a positive size")
    return WebOptions(ExtractOptions(cfg.extractor, cfg.favor), cfg.max_page_bytes)
