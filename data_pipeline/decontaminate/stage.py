"""The decontamination stage: training text holding an n-gram of an evaluation item is rejected
(`decontam:<benchmark>`) or, with `mode: cut_lines`, loses the lines those n-grams cover.

A document is split into lines, each line into tokens (ngrams.py), and the line's tokens are concatenated, so an
n-gram may span lines (a copied item puts question and options on separate lines) and every token knows its
line. Every n-gram of the document at each size the index holds is looked up in the memory-mapped index (index.py). A hit names
its benchmark; the reason is the benchmark with the most hits (ties: the first listed). In cut_lines mode every
line holding a token of a hit is removed and counted as `meta.lines_dropped["decontam:<benchmark>"]`
(stats.json sums them as it sums line cleaning's); a document left empty is rejected. `meta.decontam` holds the
hits per benchmark either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_pipeline.decontaminate.index import NgramIndex, build_index, open_index
from data_pipeline.decontaminate.ngrams import NgramHasher, tokens_of
from data_pipeline.errors import UserError
from data_pipeline.stage import ShardInfo, Stage, meta_of, reject, text_of

MODES = ("reject", "cut_lines")


@dataclass
class DecontaminationConfig:
    # Benchmark directories in the CSV layouts pretrain.evaluation reads (C-Eval, CMMLU, MMLU) or .jsonl files
    # of texts; the directory/file name is the benchmark's name in reject reasons. Empty = no stage.
    benchmarks: list[str] = field(default_factory=list)
    text_field: str = "text"  # the text of a .jsonl benchmark record
    ngram_en: int = 13  # words (GPT-3's and Llama's contamination n-gram)
    ngram_zh: int = 20  # characters of Chinese text (~13 words; 13 characters hit proper nouns, docs/pipeline.md)
    # An item shorter than its n is indexed whole (one n-gram of its length) from this many tokens up; shorter
    # items are not indexed (counted as items_too_short in the index's json).
    min_item_tokens: int = 8
    mode: str = "reject"  # reject (the whole document) | cut_lines (only the lines the n-grams cover)
    index_dir: str = ""  # where the n-gram index is built; "" = OUT/_work/decontamination

    def validate(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"decontamination.mode={self.mode!r} is not one of {MODES}", "pick one of them")
        for key in ("ngram_en", "ngram_zh", "min_item_tokens"):
            if getattr(self, key) < 1:
                raise UserError(f"decontamination.{key}={getattr(self, key)} is below 1", "give a token count")


class DecontaminationStage(Stage):
    name = "decontam"

    def __init__(self, cfg: DecontaminationConfig, index_dir: Path):
        cfg.validate()
        self.hasher = NgramHasher(cfg.ngram_zh, cfg.ngram_en, cfg.min_item_tokens)
        self.mode = cfg.mode
        self.index_stem = build_index([Path(p).expanduser() for p in cfg.benchmarks], Path(index_dir),
                                      self.hasher, cfg.text_field)
        self._index: NgramIndex | None = None

    def __getstate__(self) -> dict:  # workers map the index files themselves
        return {**self.__dict__, "_index": None}

    @property
    def index(self) -> NgramIndex:
        if self._index is None:
            self._index = open_index(self.index_stem)
        return self._index

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        for record in records:
            text = text_of(record)
            hits = self.find(text) if text else None
            if hits is not None:
                self._apply(record, text, *hits)
            yield record

    def find(self, text: str) -> tuple[list[str], dict[str, int], set[int]] | None:
        """(lines, hits per benchmark, lines to cut) of a contaminated text, None for a clean one."""
        lines = text.splitlines(keepends=True)
        per_line = [tokens_of(line) for line in lines]
        tokens = [t for line_tokens in per_line for t in line_tokens]
        line_of = np.repeat(np.arange(len(lines)), [len(t) for t in per_line])
        ids, _ = self.hasher.token_ids(tokens)
        hits: dict[str, int] = {}
        cut: set[int] = set()
        for n in self.index.sizes:
            found = self.index.lookup(self.hasher.ngrams_at(ids, n))
            starts = np.flatnonzero(found >= 0)
            if not len(starts):
                continue
            for b, count in zip(*np.unique(found[starts], return_counts=True)):
                name = self.index.names[int(b)]
                hits[name] = hits.get(name, 0) + int(count)
            covered = np.unique((starts[:, None] + np.arange(n)).ravel())
            cut.update(np.unique(line_of[covered]).tolist())
        return (lines, hits, cut) if hits else None

    def _apply(self, record: dict, text: str, lines: list[str], hits: dict[str, int], cut: set[int]) -> None:
        names = self.index.names
        benchmark = max(hits, key=lambda name: (hits[name], -names.index(name)))
        reason = f"{self.name}:{benchmark}"
        meta = meta_of(record)
        meta["decontam"] = hits
        kept = [line for i, line in enumerate(lines) if i not in cut]
        if self.mode == "reject" or not "".join(kept).strip():
            reject(record, self.name, benchmark)
            return
        record["text"] = "".join(kept)
        dropped = meta.setdefault("lines_dropped", {})
        dropped[reason] = dropped.get(reason, 0) + len(cut)
        meta.setdefault("lines_removed", []).extend({"reason": reason, "text": lines[i]} for i in sorted(cut))
