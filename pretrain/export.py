"""Export to a Hugging Face directory (safetensors shards + config.json + tokenizer files): the command line.

    python -m pretrain.export checkpoint=CKPT format=baichuan|llama output=DIR [dtype=bf16|fp16|fp32]

`format=baichuan` keeps `W_pack` and the released key names (both 7B and 13B); `format=llama` (RoPE models)
loads in `transformers.LlamaForCausalLM`. Reading and writing the weights is pretrain/weights'.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from plumbing.command_line import CommandLine
from pretrain.cli import UsageError
from pretrain.weights import export_state_dict, load

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass
class ExportArgs:
    checkpoint: str = "???"  # a training checkpoint (step_N or the checkpoint root) or a Hugging Face directory
    format: str = "llama"  # llama (RoPE models; loads in LlamaForCausalLM) | baichuan (released key names)
    output: str = "???"  # directory to write
    dtype: str = "bf16"  # bf16 | fp16 | fp32
    lora_base: str = ""  # a LoRA run's checkpoint: its base weights, when not at the finetune.init_from it saved


COMMAND = CommandLine(
    prog="python -m pretrain.export",
    summary="export a checkpoint as a Hugging Face directory (safetensors, config.json, tokenizer files)",
    example="checkpoint=RUN/checkpoints format=llama output=/ckpt/hf dtype=bf16",
    schema=ExportArgs, config_name="export",
    also_user_errors=(FileNotFoundError, ValueError),  # a wrong checkpoint= path or shape, as before
)


def main(argv: list[str] | None = None) -> int:
    return COMMAND.run(export_checkpoint, argv)


def export_checkpoint(args: ExportArgs) -> None:
    if args.dtype not in DTYPES:
        raise UsageError(f"dtype={args.dtype!r} is not one of {list(DTYPES)}")
    cfg, state_dict, tokenizer_path = load(args.checkpoint, args.lora_base)
    output = export_state_dict(cfg, state_dict, args.format, args.output, tokenizer_path, DTYPES[args.dtype])
    print(f"exported {cfg.name} ({args.format} layout, {args.dtype}) to {output}")


if __name__ == "__main__":
    sys.exit(main())
