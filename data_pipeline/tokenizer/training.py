"""SentencePiece BPE training with Baichuan's recipe, written atomically to ``DIR/tokenizer.model``.

The recipe: BPE; every digit its own token (``split_digits``) so numbers tokenize consistently; UTF-8 byte
fallback so no character is ever ``<unk>``; a high character coverage so rare-but-real Chinese characters get
their own piece; no normalization and no dummy prefix by default, so ``decode(encode(text)) == text`` exactly
(Baichuan 2 reports doing the same).

Special ids: ``<pad>`` = 0, ``<s>`` (bos) = 1, ``</s>`` (eos) = 2, ``<unk>`` = 3. Baichuan's released tokenizer
uses unk = 0 and reuses it as pad; we keep pad/bos/eos = 0/1/2 as the model expects and give pad its own piece so
padding is never confused with a real (if, with byte fallback, practically unreachable) unknown token.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import List  # noqa: UP035 - OmegaConf needs typing generics on py3.10

import sentencepiece as spm

from data_pipeline.errors import UserError

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
PAD_PIECE, BOS_PIECE, EOS_PIECE, UNK_PIECE = "<pad>", "<s>", "</s>", "<unk>"
# The chat template's role markers (pretrain/finetune/chat_template.py), control symbols of every tokenizer.
USER_PIECE, ASSISTANT_PIECE = "<user>", "<assistant>"
MODEL_FILE = "tokenizer.model"


@dataclass
class SentencePieceOptions:
    vocab_size: int = 64_000
    model_type: str = "bpe"
    character_coverage: float = 0.9995
    split_digits: bool = True
    byte_fallback: bool = True
    # "identity" keeps text byte-exact; "nmt_nfkc" would fold full-width forms (and break exact round-trips).
    normalization_rule_name: str = "identity"
    add_dummy_prefix: bool = False
    remove_extra_whitespaces: bool = False
    allow_whitespace_only_pieces: bool = True
    max_sentencepiece_length: int = 16
    max_sentence_length: int = 4192  # bytes; the line sampler cuts longer lines
    user_defined_symbols: List[str] = field(default_factory=list)  # noqa: UP006
    # Ids no text encodes to: the chat template's role markers (pretrain/finetune/chat_template.py), reserved
    # at pretraining time as Baichuan reserved <reserved_102>/<reserved_103> for its chat model.
    control_symbols: List[str] = field(default_factory=lambda: [USER_PIECE, ASSISTANT_PIECE])  # noqa: UP006
    num_threads: int = 2
    seed: int = 1234


def trainer_kwargs(options: SentencePieceOptions) -> dict:
    return {
        "model_type": options.model_type,
        "vocab_size": options.vocab_size,
        "character_coverage": options.character_coverage,
        "split_digits": options.split_digits,
        "byte_fallback": options.byte_fallback,
        "normalization_rule_name": options.normalization_rule_name,
        "add_dummy_prefix": options.add_dummy_prefix,
        "remove_extra_whitespaces": options.remove_extra_whitespaces,
        "allow_whitespace_only_pieces": options.allow_whitespace_only_pieces,
        "max_sentencepiece_length": options.max_sentencepiece_length,
        "max_sentence_length": options.max_sentence_length,
        "user_defined_symbols": list(options.user_defined_symbols),
        "control_symbols": list(options.control_symbols),
        "pad_id": PAD_ID,
        "bos_id": BOS_ID,
        "eos_id": EOS_ID,
        "unk_id": UNK_ID,
        "pad_piece": PAD_PIECE,
        "bos_piece": BOS_PIECE,
        "eos_piece": EOS_PIECE,
        "unk_piece": UNK_PIECE,
        "num_threads": options.num_threads,
        "shuffle_input_sentence": True,
        "input_sentence_size": 0,  # the sampler already bounds the input; 0 = use every streamed line
        "minloglevel": 2,
    }


def _user_error_from(message: str, options: SentencePieceOptions) -> UserError | None:
    """Turn SentencePiece's known input-dependent failures into one actionable line."""
    if "Vocabulary size is smaller than required_chars" in message:
        needed = message.split("vs")[-1].split(".")[0].strip()
        return UserError(
            f"vocab_size={options.vocab_size} is smaller than the {needed} characters (+ special pieces) needed for "
            f"character_coverage={options.character_coverage}",
            "raise vocab_size or lower character_coverage",
        )
    if "Vocabulary size too high" in message:
        return UserError(
            f"the input is too small to learn vocab_size={options.vocab_size} pieces ({message.split(')')[-1].strip()})",
            "lower vocab_size or give more text",
        )
    if "Not found" in message or "no sentences" in message.lower() or "sentences_.empty()" in message:
        return UserError(
            "no usable lines reached the tokenizer trainer", "check input= and sample.language_fractions"
        )
    return None


def train_sentencepiece(lines: Iterable[str], options: SentencePieceOptions, output_dir: Path) -> Path:
    """Train on `lines` and move ``tokenizer.model`` (+ ``tokenizer.vocab``) into `output_dir` atomically."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".train-") as tmp:
        prefix = os.path.join(tmp, "tokenizer")
        spm.set_random_generator_seed(options.seed)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines), model_prefix=prefix, **trainer_kwargs(options)
            )
        except RuntimeError as err:
            user_error = _user_error_from(str(err), options)
            if user_error is not None:
                raise user_error from None
            raise
        os.replace(f"{prefix}.vocab", output_dir / "tokenizer.vocab")
        os.replace(f"{prefix}.model", output_dir / MODEL_FILE)
    return output_dir / MODEL_FILE


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
