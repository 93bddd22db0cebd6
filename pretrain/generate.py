"""Sampling with a KV cache (temperature, top-p), for RoPE and ALiBi models.

    python -m pretrain.generate checkpoint=CKPT prompt="今天天气" max_new_tokens=64 [temperature=0.8 top_p=0.9 seed=0]
    python -m pretrain.generate checkpoint=CKPT prompt="今天天气" quantize=int8|int4 [dtype=bf16]
    python -m pretrain.generate checkpoint=SFT_CKPT prompt="中国的首都是哪里？" chat=true    (a fine-tuned model)

CKPT is a training checkpoint (read through `pretrain.weights.load`) or a Hugging Face
directory written by `pretrain.export` (either layout) or published by Baichuan. `quantize=` stores the decoder's
linear weights in int8 or int4 through torchao (pretrain/inference/quantize.py; docs/evaluation.md).

A plain prompt starts as every training document does, after EOS (`document_prefix`, docs/tokenizer.md). Stdout
carries the generated text only (what DeepSpeed prints while a checkpoint is read goes to stderr), so
`reply=$(python -m pretrain.generate ...)` works.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import sentencepiece as spm
import torch

from data_pipeline.tokenizer.document_start import as_document
from plumbing.command_line import CommandLine
from plumbing.stdout_guard import stdout_to_stderr
from pretrain.cli import UsageError
from pretrain.finetune.chat_template import ChatTokens, reply_prompt
from pretrain.inference.quantize import check_quantize_mode, quantize_model
from pretrain.model import BaichuanForCausalLM, KVCache
from pretrain.weights import load_any_checkpoint


def sample_next(logits: torch.Tensor, temperature: float, top_p: float, generator=None) -> torch.Tensor:
    """Next token per row from logits [B, V]: greedy when temperature <= 0, else nucleus sampling."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = (logits.float() / temperature).softmax(dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Drop a token when the tokens ranked above it already cover top_p; the first one always stays (also at
        # top_p <= 0, where nothing would be left to sample from).
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= top_p
        drop[..., 0] = False
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(model: BaichuanForCausalLM, input_ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_p: float = 1.0, eos_token_id: int | None = None, generator=None) -> torch.Tensor:
    """Prompt [B, L] -> [B, L + n] with n <= max_new_tokens; a row that produced EOS is padded with EOS after it.

    The prompt runs once to fill the cache; then each step feeds one token per row.
    """
    batch, length = input_ids.shape
    cache = KVCache.for_model(model, batch, length + max_new_tokens)
    logits = model(input_ids, kv_cache=cache)[:, -1]
    finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
    tokens = [input_ids]
    for step in range(max_new_tokens):
        next_token = sample_next(logits, temperature, top_p, generator)
        if eos_token_id is not None:
            next_token = next_token.masked_fill(finished, eos_token_id)
            finished |= next_token == eos_token_id
        tokens.append(next_token[:, None])
        if step + 1 == max_new_tokens or bool(finished.all()):
            break
        logits = model(next_token[:, None], kv_cache=cache)[:, -1]
    return torch.cat(tokens, dim=1)


@dataclass
class GenerateArgs:
    checkpoint: str = "???"  # a training checkpoint (step_N or the checkpoint root) or a Hugging Face directory
    prompt: str = "???"  # text to continue
    max_new_tokens: int = 64
    temperature: float = 0.8  # 0 = greedy
    top_p: float = 0.9  # nucleus sampling: smallest set of tokens whose probability reaches top_p
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | cuda:N
    dtype: str = "fp32"  # bf16 | fp16 | fp32
    quantize: str = "none"  # none | int8 | int4: weight-only quantization of the decoder's linear layers (torchao)
    # Ask a fine-tuned model: the prompt becomes a user turn of the chat template (docs/finetune.md) and only
    # the reply is printed.
    chat: bool = False
    lora_base: str = ""  # a LoRA run's checkpoint: its base weights, when not at the finetune.init_from it saved


DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def check_generate_args(args: GenerateArgs) -> None:
    """Every value's range, at composition (also for --cfg job): one line each, before any checkpoint is read."""
    if args.max_new_tokens < 1:
        raise UsageError(f"max_new_tokens={args.max_new_tokens} must be >= 1")
    if args.temperature < 0:
        raise UsageError(f"temperature={args.temperature} must be >= 0 (0 = greedy)")
    if not 0 < args.top_p <= 1:
        raise UsageError(f"top_p={args.top_p} must be in (0, 1] (1 = no nucleus cut; temperature=0 for greedy)")
    if args.dtype not in DTYPES:
        raise UsageError(f"dtype={args.dtype!r} is not one of {list(DTYPES)}")
    check_quantize_mode(args.quantize, args.device, args.dtype)  # int4 on CUDA needs bf16: refused here


COMMAND = CommandLine(
    prog="python -m pretrain.generate",
    summary="continue a prompt with a trained checkpoint or an exported Hugging Face directory",
    example='checkpoint=RUN/checkpoints prompt="今天天气" max_new_tokens=64 temperature=0.8',
    schema=GenerateArgs, config_name="generate", validate=check_generate_args,
    also_user_errors=(FileNotFoundError, ValueError),  # a wrong checkpoint= path or shape, as before
)


def main(argv: list[str] | None = None) -> int:
    return COMMAND.run(generate_text, argv)


def generate_text(args: GenerateArgs) -> None:
    with stdout_to_stderr():  # DeepSpeed's checkpoint reader prints and logs to stdout
        cfg, state_dict, tokenizer_path = load_any_checkpoint(args.checkpoint, args.lora_base)
    if tokenizer_path is None:
        raise UsageError(f"{args.checkpoint} has no tokenizer.model — export it with the tokenizer, or add one")
    tokenizer = spm.SentencePieceProcessor(model_file=tokenizer_path)
    prompt_ids = encode_prompt(args.prompt, tokenizer, tokenizer_path, args.chat)
    if len(prompt_ids) + args.max_new_tokens > cfg.max_seq_len:
        raise UsageError(f"prompt ({len(prompt_ids)} tokens) + max_new_tokens={args.max_new_tokens} exceeds "
                         f"max_seq_len={cfg.max_seq_len} — shorten the prompt or lower max_new_tokens")
    model = BaichuanForCausalLM(cfg)
    model.load_state_dict(state_dict)
    model = model.to(args.device, DTYPES[args.dtype]).eval()
    if args.quantize != "none":
        print(quantize_model(model, args.quantize).summary(), file=sys.stderr)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    ids = torch.tensor([prompt_ids], device=args.device)
    out = generate(model, ids, args.max_new_tokens, args.temperature, args.top_p, cfg.eos_token_id, generator)
    new_tokens = [t for t in out[0, len(prompt_ids):].tolist() if t != cfg.eos_token_id]
    print(tokenizer.decode(new_tokens) if args.chat else args.prompt + tokenizer.decode(new_tokens))


def encode_prompt(prompt: str, tokenizer, tokenizer_path: str, chat: bool) -> list[int]:
    """A user turn of the chat template, or a plain text started as training started every document."""
    if chat:
        return reply_prompt(prompt, tokenizer, ChatTokens.of(tokenizer, tokenizer_path))
    return as_document(tokenizer.encode(prompt), tokenizer.eos_id())


if __name__ == "__main__":
    sys.exit(main())
