"""Export beside ``tokenizer.model`` so ``transformers.AutoTokenizer.from_pretrained(DIR)`` loads it.

Only JSON is written (no `transformers` import needed to export): a `LlamaTokenizer` config over the
SentencePiece model with no extra prefix space and no automatic bos/eos, so HF ids equal SentencePiece ids.
"""

from __future__ import annotations

import json
from pathlib import Path

from data_pipeline.tokenizer.training import BOS_PIECE, EOS_PIECE, PAD_PIECE, UNK_PIECE
from plumbing.atomic_write import atomic_write_bytes


def write_hf_tokenizer_files(directory: Path, model_max_length: int = 4096) -> list[Path]:
    special = {"bos_token": BOS_PIECE, "eos_token": EOS_PIECE, "unk_token": UNK_PIECE, "pad_token": PAD_PIECE}
    config = {
        "tokenizer_class": "LlamaTokenizer",
        **special,
        "add_bos_token": False,
        "add_eos_token": False,
        # Trained without a dummy prefix: HF must not add one either, or ids would differ from SentencePiece's.
        "add_prefix_space": False,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    written = []
    for name, obj in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        path = directory / name
        atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())
        written.append(path)
    return written


def transformers_available() -> bool:
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def load_hf_tokenizer(directory: Path):
    """The exported tokenizer through transformers (raises ImportError when it is not installed)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory))
