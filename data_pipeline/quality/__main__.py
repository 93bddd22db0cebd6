"""``python -m data_pipeline.quality train --positive clean.jsonl --negative OUT/rejected
--heldout-positive other_clean.jsonl --out model.npz``
``python -m data_pipeline.quality score --model model.npz FILE.jsonl`` (prints id, lang, score per line)."""

from __future__ import annotations

import argparse
import json
import sys

from data_pipeline.errors import UserError, exit_on_user_error
from data_pipeline.quality.stage import load_model, score_record
from data_pipeline.quality.train import TrainConfig, train_quality_model
from data_pipeline.readers import read_input_records
from data_pipeline.stage import is_rejected


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_pipeline.quality")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a quality model (prints held-out AUC)")
    train.add_argument("--positive", nargs="+", required=True, help="clean text: files, globs or folders")
    train.add_argument("--negative", nargs="*", default=[],
                       help="a pipeline's OUT/rejected: its rule rejects are negatives (dedup, length, read, "
                            "langid and quality rejects are not junk and are left out)")
    train.add_argument("--heldout-positive", nargs="*", default=[],
                       help="clean text from OTHER sources than --positive: calibrates the threshold and "
                            "measures AUC/retention on data the model never saw")
    train.add_argument("--heldout-negative", nargs="*", default=[], help="rejected text of those other sources")
    train.add_argument("--target-retention", type=float, default=0.99,
                       help="share of held-out clean documents the suggested threshold keeps")
    train.add_argument("--out", required=True, help="model file to write (.npz)")
    train.add_argument("--junk-per-lang", type=int, default=1000, help="generated junk negatives per language")
    train.add_argument("--holdout", type=float, default=0.2,
                       help="without --heldout-positive and with one source in a language: share of its ids held out")
    train.add_argument("--epochs", type=int, default=100)
    train.add_argument("--bits", type=int, default=18, help="feature hash size: 2**bits weights per language")
    train.add_argument("--seed", type=int, default=0)
    score = commands.add_parser("score", help="score documents with a trained model")
    score.add_argument("--model", required=True)
    score.add_argument("paths", nargs="+")
    return parser


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "train":
        if not 0.0 < args.holdout < 1.0:
            raise UserError(f"--holdout {args.holdout} is outside (0, 1)", "use e.g. 0.2")
        cfg = TrainConfig(args.positive, args.negative, args.out, args.junk_per_lang, args.holdout, args.seed,
                          args.epochs, args.bits, args.heldout_positive, args.heldout_negative,
                          args.target_retention)
        model = train_quality_model(cfg)
        print(json.dumps({"model": args.out, **model.metrics}, indent=1))
        return 0
    model = load_model(args.model)
    for record in read_input_records(args.paths):
        if not is_rejected(record):
            lang, score = score_record(model, record)
            print(json.dumps({"id": record["id"], "lang": lang, "quality_score": round(score, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
