"""Evaluate a checkpoint: held-out perplexity per source and language, and few-shot multiple choice.

    python -m pretrain.evaluation checkpoint=CKPT task=ppl [data=demo|DATA.yaml] [batches=16]
    python -m pretrain.evaluation checkpoint=CKPT task=mc data_dir=CEVAL_OR_CMMLU_OR_MMLU_DIR shots=5 [max_items=N]

CKPT is a training checkpoint (a `step_N` directory or the checkpoint root). Perplexity uses the checkpoint's own
data config unless `data=` names another, so the held-out split is the one training never saw. Multiple choice
reads the C-Eval / CMMLU / MMLU CSV layouts (see pretrain/evaluation/mc_data.py). Results go to
`output/{ppl,mc}.json` and `output/mc.txt` (the table, also printed). Docs: docs/evaluation.md.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List  # noqa: UP035 - OmegaConf needs typing generics on py3.10

import sentencepiece as spm
import torch
from omegaconf import MISSING

from data_pipeline.tokenizer.document_start import document_prefix
from plumbing.command_line import CommandLine
from plumbing.stdout_guard import stdout_to_stderr
from pretrain.checkpoint import CheckpointNotFound
from pretrain.cli import UsageError
from pretrain.data import PretrainDataLoader
from pretrain.evaluation.config import SPLITS
from pretrain.evaluation.data_spec import checkpoint_data, load_data_config
from pretrain.evaluation.mc_data import load_benchmark
from pretrain.evaluation.mc_eval import evaluate_multiple_choice
from pretrain.evaluation.perplexity import held_out_losses, per_language, perplexity_json, perplexity_table
from pretrain.inference.quantize import check_quantize_mode, quantize_model
from pretrain.model import BaichuanForCausalLM
from pretrain.weights import is_hf_directory, load_any_checkpoint

TASKS = ("ppl", "mc", "all")
DTYPES = ("fp32", "bf16")


@dataclass
class EvaluateArgs:
    checkpoint: str = MISSING  # a training checkpoint: a step_N directory or the checkpoint root (its newest)
    task: str = "ppl"  # ppl | mc | all
    output: str = "eval"  # directory for the JSON results
    device: str = "cpu"  # cpu | cuda | cuda:N
    dtype: str = "fp32"  # fp32 | bf16
    quantize: str = "none"  # none | int8 | int4: weight-only quantization of the decoder's linear layers (torchao)
    lora_base: str = ""  # a LoRA run's checkpoint: its base weights, when not at the finetune.init_from it saved
    # Perplexity
    data: str = ""  # conf/data preset or data-config YAML; empty = the checkpoint's own data config
    batches: int = 16  # held-out batches per source
    micro_batch_size: int = 4
    seq_len: int = 0  # 0 = the checkpoint's train.seq_len
    # Multiple choice
    data_dir: str = ""  # multiple choice: a C-Eval, CMMLU or MMLU directory
    shots: int = 5  # examples from the dev split before each question
    split: str = "auto"  # auto (test when labelled, else val) | test | val | dev
    max_items: int = 0  # per subject; 0 = all
    subjects: List[str] = field(default_factory=list)  # noqa: UP006 - subjects to score; empty = all


def load_model(args: EvaluateArgs):
    # A training checkpoint (LoRA adapters merged) or a Hugging Face directory, as generate and export read them;
    # what DeepSpeed's reader prints goes to stderr, so stdout holds the result tables only.
    with stdout_to_stderr():
        cfg, state_dict, tokenizer_path = load_any_checkpoint(args.checkpoint, args.lora_base)
    model = BaichuanForCausalLM(cfg)
    model.load_state_dict(state_dict)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model = model.to(args.device, dtype).eval()
    if args.quantize != "none":
        print(quantize_model(model, args.quantize).summary(), file=sys.stderr)
    return model, tokenizer_path


def run_perplexity(args: EvaluateArgs, model) -> dict:
    hf_directory = is_hf_directory(args.checkpoint)
    if hf_directory and not args.data:
        raise UsageError(f"{args.checkpoint} is a Hugging Face directory: it holds no data config — name the "
                         "held-out data with data=demo or data=DATA.yaml")
    # A training checkpoint's own data config and seq_len: the split training never saw.
    data, seq_len = (None, model.cfg.max_seq_len) if hf_directory else checkpoint_data(args.checkpoint)
    if args.data:
        data = load_data_config(args.data)
    seq_len = min(args.seq_len or seq_len, model.cfg.max_seq_len)
    loader = PretrainDataLoader(data, seq_len=seq_len, micro_batch_size=args.micro_batch_size)

    def loss(batch):
        doc_ids = batch["doc_ids"].to(args.device) if data.document_masking else None
        return model(batch["input_ids"].to(args.device), labels=batch["labels"].to(args.device), doc_ids=doc_ids)

    per_source = held_out_losses(loss, loader, args.batches)
    if not per_source:
        raise UsageError("no source has held-out documents — raise data.validation_fraction or add documents")
    languages = per_language(loader, per_source)
    print(perplexity_table(per_source, languages))
    # `batches` per source (in perplexity_json) is what was scored; `max_batches` the cap asked for.
    return perplexity_json(per_source, languages) | {"seq_len": seq_len, "max_batches": args.batches,
                                                     "dtype": args.dtype, "quantize": args.quantize}


def run_multiple_choice(args: EvaluateArgs, model, tokenizer_path: str | None) -> dict:
    if tokenizer_path is None:
        raise UsageError(f"{args.checkpoint} holds no tokenizer.model — train with data.tokenizer set")
    benchmark = load_benchmark(args.data_dir, list(args.subjects) or None)
    tokenizer = spm.SentencePieceProcessor(model_file=tokenizer_path)
    # A prompt starts as every training document does (data_pipeline/tokenizer/document_start.py).
    results = evaluate_multiple_choice(model, tokenizer, benchmark, shots=args.shots, max_len=model.cfg.max_seq_len,
                                       split=args.split, max_items=args.max_items,
                                       prefix=document_prefix(tokenizer.eos_id()), device=args.device)
    results.settings.update(dtype=args.dtype, quantize=args.quantize)
    table = results.table()
    print(table)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    (Path(args.output) / "mc.txt").write_text(table + "\n", encoding="utf-8")
    return results.to_json()


def check_evaluate_args(args: EvaluateArgs) -> None:
    """Every value's range, at composition (also for --cfg job): one line each, before the model is read."""
    if args.task not in TASKS:
        raise UsageError(f"task={args.task!r} is not one of {TASKS}")
    if args.dtype not in DTYPES:
        raise UsageError(f"dtype={args.dtype!r} is not one of {DTYPES}")
    check_quantize_mode(args.quantize, args.device, args.dtype)  # int4 on CUDA needs bf16: refused here
    for key, least, note in (("batches", 1, ""), ("micro_batch_size", 1, ""),
                             ("seq_len", 0, " (0 = the checkpoint's train.seq_len)"), ("shots", 0, ""),
                             ("max_items", 0, " (0 = every item)")):
        if getattr(args, key) < least:
            raise UsageError(f"{key}={getattr(args, key)} must be >= {least}{note}")
    if args.split not in SPLITS:
        raise UsageError(f"split={args.split!r} is not one of {SPLITS}")
    if args.task in ("mc", "all") and not args.data_dir:
        raise UsageError("task=mc needs data_dir=<a C-Eval, CMMLU or MMLU directory>")


def evaluate(args: EvaluateArgs) -> dict:
    check_evaluate_args(args)  # run at composition too; kept for callers that build EvaluateArgs in code
    model, tokenizer_path = load_model(args)
    out = Path(args.output)
    written = {}
    if args.task in ("ppl", "all"):
        written["ppl"] = run_perplexity(args, model)
    if args.task in ("mc", "all"):
        written["mc"] = run_multiple_choice(args, model, tokenizer_path)
    out.mkdir(parents=True, exist_ok=True)
    for name, result in written.items():
        (out / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {', '.join(str(out / f'{n}.json') for n in written)}")
    return written


def main(argv: list[str] | None = None) -> int:
    command = CommandLine(
        prog="python -m pretrain.evaluation",
        summary="held-out perplexity per source and language, and few-shot multiple choice, of a checkpoint",
        example="checkpoint=RUN/checkpoints task=ppl data=zh_en batches=16",
        schema=EvaluateArgs, config_name="evaluate", validate=check_evaluate_args,
        also_user_errors=(CheckpointNotFound, FileNotFoundError),  # a wrong checkpoint= or data_dir= path
    )
    command.run(evaluate, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
