"""Compression table of a tokenizer against baselines, per language, on your text.

    python -m data_pipeline.tokenizer_report tokenizer=TOKENIZER_DIR input=PIPELINE_OUT/kept \
        [baseline=OTHER.model] [baselines=[a.model,hf_dir/tokenizer.json]] [references=[bytes,chars]] [output=table.md]

Rates are defined in docs/tokenizer.md (tokens per character is the compression rate; lower is better).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, List  # noqa: UP035 - OmegaConf needs typing generics on py3.10

from omegaconf import MISSING

from data_pipeline.tokenizer.compression import load_tokenizer_under_test, markdown_table, measure
from data_pipeline.tokenizer.input_records import RecordFieldsConfig, list_input_files, read_documents
from plumbing.atomic_write import atomic_write_bytes
from plumbing.command_line import CommandLine
from plumbing.input_files import input_entries


@dataclass
class TokenizerReportConfig:
    tokenizer: str = MISSING  # the tokenizer under test: a tokenizer.model or its directory
    input: Any = MISSING  # documents: a file, glob or folder of .jsonl[.gz|.zst], or a list of them
    baseline: str = ""  # one baseline (shorthand); more with baselines=[...]
    baselines: List[str] = field(default_factory=list)  # noqa: UP006
    references: List[str] = field(default_factory=lambda: ["bytes"])  # noqa: UP006 - "bytes" and/or "chars"
    max_documents: int = 0  # 0 = every document
    output: str = ""  # also write the table (markdown) here
    fields: RecordFieldsConfig = field(default_factory=RecordFieldsConfig)


def build_report(config: TokenizerReportConfig) -> str:
    specs = [
        config.tokenizer,
        *([config.baseline] if config.baseline else []),
        *config.baselines,
        *config.references,
    ]
    tokenizers = [load_tokenizer_under_test(spec) for spec in specs]
    rejections: dict[str, int] = {}
    documents = (
        (doc.language, doc.text)
        for path in list_input_files(config.input)
        for doc in read_documents(path, config.fields, rejections)
    )
    measure(tokenizers, islice(documents, config.max_documents or None))
    languages = sorted({lang for tok in tokenizers for lang in tok.per_language} - {"all"}) + ["all"]
    table = markdown_table(tokenizers, languages)
    if config.output:
        atomic_write_bytes(Path(config.output), (table + "\n").encode())
    return table


def normalize_input(config: TokenizerReportConfig) -> None:
    config.input = input_entries(config.input)  # one path or a list: stored as the list


COMMAND = CommandLine(
    prog="python -m data_pipeline.tokenizer_report",
    summary="compression table (tokens per character and per byte) of a tokenizer against baselines, per language",
    example="tokenizer=/data/tok input=/data/clean/kept baselines=[other/tokenizer.model] output=table.md",
    schema=TokenizerReportConfig, config_name="tokenizer_report", validate=normalize_input,
)


def main(argv: list[str] | None = None) -> int:
    return COMMAND.run(lambda config: print(build_report(config)), argv)


if __name__ == "__main__":
    sys.exit(main())
