"""Precision and recall of MinHash dedup against exact Jaccard over all pairs of a sample, per language.

    python -m data_pipeline.dedup.evaluate input=[../shared/data/corpus] sample=1000 near_duplicates=3 \
        minhash.threshold=0.8 [output=report.json]

Samples `sample` readable records from the input (files, globs or folders, as data_pipeline.run reads them),
optionally adds `near_duplicates` edited copies of each (substitutions, insertions, deletions, sentence swaps
at several rates) so the sample holds duplicates at known edit levels, then scores LSH candidates, verified
pairs, the stage's clusters and its removals (see data_pipeline.dedup.precision_recall).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from typing import Any

from data_pipeline.dedup.config import DedupConfig, MinHashDedupConfig, validate_dedup_config
from data_pipeline.dedup.near_duplicates import with_near_duplicates
from data_pipeline.dedup.precision_recall import evaluate_minhash
from data_pipeline.errors import UserError
from data_pipeline.readers import read_input_records
from data_pipeline.stage import is_rejected
from plumbing.atomic_write import atomic_write_json
from plumbing.command_line import CommandLine
from plumbing.hydra_compose import compose_typed
from plumbing.input_files import input_entries


@dataclass
class DedupEvalConfig:
    input: Any = field(default_factory=list)  # records: a file, glob or folder, or a list of them
    sample: int = 1000  # records drawn (uniformly, seeded) before near-duplicates are added
    near_duplicates: int = 0  # edited copies generated per sampled record
    seed: int = 0
    minhash: MinHashDedupConfig = field(default_factory=MinHashDedupConfig)
    output: str | None = None  # also write the report as JSON here


def validate_eval_config(cfg: DedupEvalConfig) -> None:
    cfg.input = input_entries(cfg.input)  # one path or a list: stored as the list
    if cfg.sample < 2 or cfg.near_duplicates < 0:
        raise UserError(f"sample={cfg.sample}, near_duplicates={cfg.near_duplicates}",
                        "use sample >= 2 and near_duplicates >= 0")
    validate_dedup_config(DedupConfig(minhash=cfg.minhash))


def compose_eval_config(overrides: list[str]) -> DedupEvalConfig:
    cfg = compose_typed(DedupEvalConfig, "dedup_eval", overrides, uses_conf_dir=False)
    validate_eval_config(cfg)
    return cfg


COMMAND = CommandLine(
    prog="python -m data_pipeline.dedup.evaluate",
    summary="precision and recall of MinHash dedup settings on a sample of your corpus with known near-duplicates",
    example="input=[../shared/data/corpus] sample=1000 near_duplicates=3 minhash.threshold=0.8",
    schema=DedupEvalConfig, config_name="dedup_eval", validate=validate_eval_config,
)


def load_sample(cfg: DedupEvalConfig) -> list[dict]:
    records: dict[str, dict] = {}  # by id: duplicate ids would make pairs ambiguous
    for record in read_input_records(list(cfg.input)):
        if not is_rejected(record):
            records.setdefault(record["id"], record)
    if len(records) < 2:
        raise UserError(f"input {cfg.input} holds fewer than 2 readable records", "point input at a corpus")
    rng = random.Random(cfg.seed)
    sample = rng.sample(sorted(records.values(), key=lambda r: r["id"]), min(cfg.sample, len(records)))
    return with_near_duplicates(sample, cfg.near_duplicates, cfg.seed) if cfg.near_duplicates else sample


def format_report(report: dict) -> str:
    lines = [f"{'lang':<5}{'docs':>7}{'true pairs':>12}  {'level':<11}{'predicted':>10}{'precision':>11}"
             f"{'recall':>9}"]
    for lang, scores in report.items():
        for level in ("candidates", "verified", "clusters", "removals"):
            score = scores[level]
            predicted = score.get("predicted_pairs", score.get("removed"))
            lines.append(f"{lang:<5}{scores['docs']:>7}{scores['true_pairs']:>12}  {level:<11}{predicted:>10}"
                         f"{score['precision']:>11.4f}{score['recall']:>9.4f}")
    return "\n".join(lines)


def evaluate_and_report(cfg: DedupEvalConfig) -> int:
    report = evaluate_minhash(load_sample(cfg), cfg.minhash, seed=1)
    print(format_report(report))
    if cfg.output:
        atomic_write_json(cfg.output, report)
    return 0


def main(argv: list[str] | None = None) -> int:
    return COMMAND.run(evaluate_and_report, argv)


if __name__ == "__main__":
    sys.exit(main())
