"""Input discovery: config paths/globs/folders/HF datasets → a list of shards, each readable on its own.

One input file is one shard (its name is stable: the shard number, so outputs sort like the inputs).
An HF dataset is split into `hf_shards` contiguous shards so workers can share it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from data_pipeline.errors import UnreadableShardError, UserError
from data_pipeline.readers.html import HTML_SUFFIXES, read_html_records
from data_pipeline.readers.huggingface import read_hf_records
from data_pipeline.readers.jsonl import read_jsonl_records
from data_pipeline.readers.parquet import read_parquet_records
from data_pipeline.readers.text import read_text_records
from data_pipeline.readers.validate import ReaderOptions
from data_pipeline.readers.warc import is_warc_file, read_warc_records
from data_pipeline.stage import ShardInfo
from data_pipeline.web.options import WebConfig, web_options
from plumbing.input_files import announce_inputs, resolve_input_files

SUFFIX_FORMATS = {
    ".jsonl": "jsonl", ".json": "jsonl", ".jsonl.gz": "jsonl", ".json.gz": "jsonl",
    ".jsonl.zst": "jsonl", ".jsonl.zstd": "jsonl", ".parquet": "parquet", ".txt": "text",
    ".warc": "warc", ".warc.gz": "warc", ".wet": "warc", ".wet.gz": "warc",
    **{suffix: "html" for suffix in HTML_SUFFIXES},
}
FORMATS = ("auto", "jsonl", "parquet", "text", "hf_disk", "warc", "html")


@dataclass
class InputConfig:
    # Typed Any so that one path needs no brackets, as in every other command; validation stores a list.
    paths: Any = field(default_factory=list)  # a file, glob or folder, or a list of them (save_to_disk = HF)
    format: str = "auto"  # auto (by suffix, a WARC also by its first bytes) | jsonl | parquet | text | hf_disk | warc | html
    text_field: str = "text"
    id_field: str = "id"
    text_mode: str = "file"  # plain text: one document per "file" or per blank-line "paragraph"
    max_chars: int = 1_000_000
    hf_name: str | None = None  # a dataset for datasets.load_dataset (hub name or local script/folder)
    hf_split: str = "train"
    hf_shards: int = 4
    web: WebConfig = field(default_factory=WebConfig)  # WARC/WET/HTML: extractor, page limit, WARC sharding


@dataclass(frozen=True)
class ShardSource:
    """Where one shard's records come from. Picklable, so a worker process can read it."""

    info: ShardInfo
    location: str
    format: str  # jsonl | parquet | text | hf_disk | hf_name | warc | html
    options: ReaderOptions
    text_mode: str = "file"
    hf_split: str = "train"
    part: int = 0  # an HF dataset or a big WARC is read as `parts` contiguous slices; this is slice `part`
    parts: int = 1

    def read(self) -> Iterator[dict]:
        if self.format == "jsonl":
            return read_jsonl_records(self.location, self.options)
        if self.format == "parquet":
            return read_parquet_records(self.location, self.options)
        if self.format == "text":
            return read_text_records(self.location, self.options, self.text_mode)
        if self.format == "warc":
            return read_warc_records(self.location, self.options, self.part, self.parts)
        if self.format == "html":
            return read_html_records(self.location, self.options)
        from_disk = self.format == "hf_disk"
        return read_hf_records(self.location, self.hf_split, from_disk, self.part, self.parts, self.options)


def format_of(path: str, configured: str) -> str:
    """The reader for `path`: the configured one, else by suffix (a folder is an HF `save_to_disk` dataset)."""
    if configured != "auto":
        return configured
    if os.path.isdir(path):
        return "hf_disk"
    for suffix, fmt in SUFFIX_FORMATS.items():
        if path.lower().endswith(suffix):
            return fmt
    if is_warc_file(path):
        return "warc"
    raise UserError(f"cannot tell the format of {path}", "name it .jsonl/.jsonl.gz/.jsonl.zst/.parquet/.txt/"
                    ".warc.gz/.html or set input.format")


def _warc_parts(path: str, web: WebConfig) -> int:
    """How many shards a WARC is read as: one per `warc_shard_mb` of file (readers.warc splits at records)."""
    shard_bytes = web.warc_shard_mb << 20
    return max(1, -(-os.path.getsize(path) // shard_bytes))


def _is_hf_saved_dataset(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, marker)) for marker in ("dataset_info.json", "dataset_dict.json",
                                                                            "state.json"))


def discover_sources(cfg: InputConfig, announce: bool = False, key: str = "input.paths") -> list[ShardSource]:
    """Every input shard, in a stable order. Raises UserError when an entry names nothing; `announce` says
    on stderr which files matched; `key` is the argument an error message names."""
    if not cfg.paths and not cfg.hf_name:
        raise UserError("no input given", "set input.paths=[file.jsonl,...] or input.hf_name=<dataset>")
    if cfg.format not in FORMATS:
        raise UserError(f"input.format={cfg.format!r} is not one of {FORMATS}", "pick one of them")
    options = ReaderOptions(cfg.text_field, cfg.id_field, cfg.max_chars, web_options(cfg.web))
    plan: list[tuple[str, str, int, int]] = []  # (location, format, part, parts)
    files = resolve_input_files(cfg.paths, tuple(SUFFIX_FORMATS), key=key,
                                read_whole=_is_hf_saved_dataset) if cfg.paths else []
    if announce and files:
        announce_inputs(files)
    for path in files:
        fmt = format_of(path, cfg.format)
        parts = cfg.hf_shards if fmt == "hf_disk" else _warc_parts(path, cfg.web) if fmt == "warc" else 1
        plan.extend((path, fmt, part, parts) for part in range(parts))
    if cfg.hf_name:
        plan.extend((cfg.hf_name, "hf_name", part, cfg.hf_shards) for part in range(cfg.hf_shards))
    count = len(plan)
    return [
        ShardSource(ShardInfo(index, count, f"{index:05d}"), location, fmt, options, cfg.text_mode, cfg.hf_split,
                    part, parts)
        for index, (location, fmt, part, parts) in enumerate(plan)
    ]


def report_unreadable(message: str) -> None:
    print(f"warning: skipped an unreadable input: {message}", file=sys.stderr)


def read_input_records(paths: list[str], on_unreadable: Callable[[str], None] = report_unreadable) -> Iterator[dict]:
    """Every record of `paths`, rejected ones included, for the tools that read input outside an executor
    (quality train/score, dedup_eval). A file that cannot be read at all (not gzip despite .gz, not parquet) is
    passed to `on_unreadable` and skipped, as the pipeline records it in stats["errors"] and goes on."""
    for source in discover_sources(InputConfig(paths=list(paths)), announce=True, key="input"):
        yield from readable_records(source, on_unreadable)


def readable_records(source: ShardSource, on_unreadable: Callable[[str], None] = report_unreadable) -> Iterator[dict]:
    """`source.read()`, streamed; a file that turns out unreadable is passed to `on_unreadable` and ends there."""
    try:
        yield from source.read()
    except UnreadableShardError as err:
        on_unreadable(str(err))
