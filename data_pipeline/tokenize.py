"""Tokenize pipeline output into token shards the trainer streams.

    python -m data_pipeline.tokenize input=PIPELINE_OUT/kept tokenizer=TOKENIZER_DIR/tokenizer.model output=SHARDS \
        [num_workers=2] [group_by=source|lang|source_lang|none] [fields.source_field=source] [fields.language_field=meta.lang]

Parallel over input files, deterministic (the output does not depend on num_workers), resumable per input file
(rerun the same command after a crash), every file written atomically. Layout: see
data_pipeline/tokenizer/shard_writing.py and docs/tokenizer.md.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import sentencepiece as spm
from omegaconf import MISSING

from data_pipeline.errors import UserError
from data_pipeline.tokenizer.input_records import (
    WEIGHT_SOURCES,
    RecordFieldsConfig,
    file_stem,
    list_input_files,
)
from data_pipeline.tokenizer.shard_writing import (
    GROUPINGS,
    FileResult,
    FileTokenizer,
    TokenizerInfo,
    discard,
    init_worker,
    read_marker,
    tokenize_files_in_worker,
    write_group_manifests,
)
from data_pipeline.tokenizer.training import file_sha256
from plumbing.atomic_write import atomic_write_json
from plumbing.input_files import input_entries

# A pool task is a chunk of input files: inside it each file's commit (fsync, rename, progress marker) runs on a
# background thread while the next file is encoded. Bigger chunks overlap more; smaller ones balance better.
FILES_PER_TASK = 8
TASKS_PER_WORKER = 4


@dataclass
class TokenizeConfig:
    input: Any = MISSING  # pipeline output (OUT/kept): a file, glob or folder of .jsonl[.gz|.zst], or a list
    tokenizer: str = MISSING  # a tokenizer.model, or the directory holding one
    output: str = MISSING  # directory of token shards (.bin/.idx/manifest.json per group) and summary.json
    num_workers: int = 0  # 0 = one per CPU core
    # Output directory per document: source (OUT/<source>), lang (OUT/<lang>), source_lang (OUT/<source>/<lang>)
    # or none (OUT/all).
    group_by: str = "source"
    # Documents per SentencePiece call (a batch also ends at 4 Mi characters, so long documents stay cheap in memory).
    encode_batch_size: int = 1024
    fields: RecordFieldsConfig = field(default_factory=RecordFieldsConfig)


def load_tokenizer_info(spec: str) -> TokenizerInfo:
    path = Path(spec)
    if path.is_dir():
        path = path / "tokenizer.model"
    if not path.is_file():
        raise UserError(
            f"tokenizer {spec!r} not found",
            "give the tokenizer.model written by data_pipeline.train_tokenizer",
        )
    try:
        processor = spm.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError):
        raise UserError(
            f"{path} is not a SentencePiece model", "give the tokenizer.model from train_tokenizer"
        ) from None
    if processor.eos_id() < 0:
        raise UserError(f"{path} has no EOS piece", "train it with data_pipeline.train_tokenizer (eos id 2)")
    return TokenizerInfo(str(path), file_sha256(path), processor.get_piece_size(), processor.eos_id())


def file_chunks(files: list[Path], workers: int) -> list[list[Path]]:
    """Pool tasks: runs of consecutive files (biggest first, as `files` comes), at most FILES_PER_TASK each and
    small enough that every worker still gets about TASKS_PER_WORKER of them (load balance at the end)."""
    size = max(1, min(FILES_PER_TASK, len(files) // (workers * TASKS_PER_WORKER)))
    return [files[i : i + size] for i in range(0, len(files), size)]


def tokenize(config: TokenizeConfig) -> dict:
    """Run the command; returns the summary it also writes to ``OUT/summary.json``."""
    validate_tokenize_config(config)
    files = list_input_files(config.input)
    stems = Counter(file_stem(f) for f in files)
    if duplicated := sorted(s for s, n in stems.items() if n > 1):
        raise UserError(
            f"input files share the name(s) {duplicated}",
            "give files with distinct names (shard names follow them)",
        )
    tokenizer = load_tokenizer_info(config.tokenizer)
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    check_same_weighting(output, config)
    results: dict[str, FileResult] = {}
    todo = []
    emptied: set[str] = set()  # groups whose shards from a changed input file were discarded
    for f in files:
        previous = read_marker(output, f, tokenizer)
        if previous is not None and previous.input_bytes == f.stat().st_size:
            results[str(f)] = previous  # finished by an earlier run: resume skips it
            continue
        if previous is not None:  # the input changed since: drop its old shards, tokenize it again
            discard(output, previous)
            emptied.update(previous.groups)
        todo.append(f)
    todo.sort(key=lambda f: f.stat().st_size, reverse=True)  # big files first: better load balance
    workers = min(config.num_workers or os.cpu_count() or 1, max(len(todo), 1))
    worker_args = (tokenizer, output, config.fields, config.group_by, config.encode_batch_size)
    if workers <= 1:
        worker = FileTokenizer(*worker_args)
        results.update((r.input, r) for r in worker.tokenize_files(todo))
    else:
        # spawn, not fork: safe with threads, and workers import only the light shard_writing module
        with get_context("spawn").Pool(workers, initializer=init_worker, initargs=worker_args) as pool:
            for chunk_results in pool.imap_unordered(tokenize_files_in_worker, file_chunks(todo, workers)):
                results.update((r.input, r) for r in chunk_results)
    ordered = [results[str(f)] for f in files]
    group_tokens = write_group_manifests(output, ordered, tokenizer, emptied)
    rejections: Counter = Counter()
    for result in ordered:
        rejections.update(result.rejections)
    summary = {
        "tokenizer": tokenizer.path,
        "tokenizer_sha256": tokenizer.sha256,
        "input_files": len(files),
        "resumed_files": len(files) - len(todo),
        "tokens_per_group": group_tokens,
        "documents": sum(e.documents for r in ordered for e in r.groups.values()),
        "rejected_records": dict(sorted(rejections.items())),
        "weighting": weighting(config),
    }
    atomic_write_json(output / "summary.json", summary, sort_keys=True)
    return summary


def tokenize_and_report(config: TokenizeConfig) -> None:
    summary = tokenize(config)
    print(json.dumps(summary, indent=2, ensure_ascii=False))


def validate_tokenize_config(config: TokenizeConfig) -> None:
    """Checks that need no file, so `--cfg job` refuses what the run would."""
    config.input = input_entries(config.input)  # one path or a list: stored as the list
    if config.group_by not in GROUPINGS:
        raise UserError(f"group_by={config.group_by!r} is not one of {GROUPINGS}", "pick one of them")
    if config.fields.weight_by not in WEIGHT_SOURCES:
        raise UserError(f"fields.weight_by={config.fields.weight_by!r} is not one of {sorted(WEIGHT_SOURCES)}",
                        "give dup_cluster_size (rehydrate by dedup cluster size) or leave it empty")
    if config.fields.weight_cap < 1:
        raise UserError(f"fields.weight_cap={config.fields.weight_cap} is below 1",
                        "give the most copies one document may get, 1 or more")


def check_same_weighting(output: Path, config: TokenizeConfig) -> None:
    """Files finished by an earlier run are reused: refuse to mix shards written with another rehydration."""
    summary = output / "summary.json"
    if not summary.is_file():
        return
    before = json.loads(summary.read_text()).get("weighting", {"weight_by": ""})  # older runs: none
    if before != weighting(config):
        raise UserError(f"{output} holds shards written with weighting {before}, now {weighting(config)}",
                        "write to a fresh output directory or rerun with the same fields.weight_by/weight_cap")


def weighting(config: TokenizeConfig) -> dict:
    """What decides how often a document is written (the cap matters only with a weight)."""
    if not config.fields.weight_by:
        return {"weight_by": ""}
    return {"weight_by": config.fields.weight_by, "weight_cap": config.fields.weight_cap}


def tokenize_command():
    # lazy: spawned workers re-import this module as __main__ and need no Hydra (about a second each)
    from plumbing.command_line import CommandLine

    return CommandLine(
        prog="python -m data_pipeline.tokenize",
        summary="tokenize pipeline output into token shards the trainer streams (resumable, deterministic)",
        example="input=/data/clean/kept tokenizer=/data/tok/tokenizer.model output=/data/shards group_by=lang",
        schema=TokenizeConfig, config_name="tokenize", validate=validate_tokenize_config,
    )


def main(argv: list[str] | None = None) -> int:
    return tokenize_command().run(tokenize_and_report, argv)


if __name__ == "__main__":
    sys.exit(main())
