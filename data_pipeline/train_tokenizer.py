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

from omegaconf import MISSING

from data_pipeline.errors import exit_on_user_error
from data_pipeline.formats.token_shards import atomic_write_bytes
from data_pipeline.hydra_cli import compose_cli_config
from data_pipeline.tokenizer.hf_export import write_hf_tokenizer_files
from data_pipeline.tokenizer.input_records import RecordFieldsConfig, list_input_files
from data_pipeline.tokenizer.line_sample import BalancedLineSampler, LineSampleConfig
from data_pipeline.tokenizer.training import SentencePieceOptions, file_sha256, train_sentencepiece


@dataclass
class TrainTokenizerConfig(SentencePieceOptions):
    input: str = MISSING
    output: str = MISSING
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


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    config = compose_cli_config(
        TrainTokenizerConfig, "train_tokenizer", sys.argv[1:] if argv is None else argv
    )
    report = train_tokenizer(config)
    sampled = ", ".join(f"{lang} {n:,}" for lang, n in report["lines_sampled"].items())
    print(
        f"tokenizer: {Path(config.output) / 'tokenizer.model'} (vocab {config.vocab_size:,}; lines {sampled})"
    )


if __name__ == "__main__":
    main()
