"""Train the SentencePiece BPE tokenizer on a language-balanced line sample of pipeline output.

    python -m data_pipeline.train_tokenizer input=PIPELINE_OUT/kept output=TOKENIZER_DIR vocab_size=64000 \
        [character_coverage=0.9995] [sample.max_lines=20000000] [sample.language_fractions.zh=0.5] ...

Writes ``tokenizer.model`` (+ ``tokenizer.vocab``), the HF export (``tokenizer_config.json``,
``special_tokens_map.json``) and ``training_report.json`` (lines per language, options, sha256).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from data_pipeline.tokenizer.hf_export import write_hf_tokenizer_files
from data_pipeline.tokenizer.input_records import RecordFieldsConfig, list_input_files
from data_pipeline.tokenizer.line_sample import BalancedLineSampler, LineSampleConfig
from data_pipeline.tokenizer.training import SentencePieceOptions, file_sha256, train_sentencepiece
from plumbing.atomic_write import atomic_write_bytes
from plumbing.command_line import CommandLine
from plumbing.input_files import input_entries


@dataclass
class TrainTokenizerConfig(SentencePieceOptions):
    input: Any = MISSING  # pipeline output (OUT/kept): a file, glob or folder of .jsonl[.gz|.zst], or a list
    output: str = MISSING  # directory for tokenizer.model, the HF files and training_report.json
    sample: LineSampleConfig = field(default_factory=LineSampleConfig)
    fields: RecordFieldsConfig = field(default_factory=RecordFieldsConfig)
    hf_export: bool = True
    model_max_length: int = 4096  # recorded in the HF export


def train_tokenizer(config: TrainTokenizerConfig) -> dict:
    """Run the whole command; returns the training report it wrote."""
    files = list_input_files(config.input)
    sampler = BalancedLineSampler(files, config.sample, config.fields, seed=config.seed)
    output = Path(config.output)
    model_path = train_sentencepiece(sampler, config, output)
    if config.hf_export:
        write_hf_tokenizer_files(output, config.model_max_length)
    options = {k: v for k, v in asdict(config).items() if k not in ("input", "output")}
    report = {
        "tokenizer_sha256": file_sha256(model_path),
        "input_files": [str(f) for f in files],
        "lines_available": sampler.available,
        "lines_sampled": sampler.sampled,
        "rejected_records": sampler.rejections,
        "options": options,
    }
    atomic_write_bytes(
        output / "training_report.json", (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()
    )
    return report


def normalize_input(config: TrainTokenizerConfig) -> None:
    config.input = input_entries(config.input)  # one path or a list: stored as the list


COMMAND = CommandLine(
    prog="python -m data_pipeline.train_tokenizer",
    summary="train the SentencePiece BPE tokenizer on a language-balanced sample of pipeline output",
    example="input=/data/clean/kept output=/data/tok vocab_size=64000 sample.language_fractions.zh=0.5",
    schema=TrainTokenizerConfig, config_name="train_tokenizer", validate=normalize_input,
)


def train_and_report(config: TrainTokenizerConfig) -> None:
    report = train_tokenizer(config)
    sampled = ", ".join(f"{lang} {n:,}" for lang, n in report["lines_sampled"].items())
    print(
        f"tokenizer: {Path(config.output) / 'tokenizer.model'} (vocab {config.vocab_size:,}; lines {sampled})"
    )


def main(argv: list[str] | None = None) -> int:
    return COMMAND.run(train_and_report, argv)


if __name__ == "__main__":
    sys.exit(main())
