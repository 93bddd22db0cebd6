"""Export beside ``tokenizer.model`` so ``transformers.AutoTokenizer.from_pretrained(DIR)`` loads it.

Only JSON is written (no `transformers` import needed to export): a `LlamaTokenizer` config over the
SentencePiece model with no extra prefix space, whose `bos_token` is the piece a document starts after in the
token shards (`</s>`, data_pipeline/tokenizer/document_start.py) and added automatically, so
`tokenizer(text).input_ids` is exactly what pretraining put before and in a document: `document_prefix` +
SentencePiece's ids. When the model has the role control symbols, the fine-tuning chat template goes along as a
Jinja `chat_template`, so `tokenizer.apply_chat_template(messages, add_generation_prompt=True)` gives the ids
fine-tuning trained on (transformers renders a template without adding special tokens, so the start is not
doubled).
"""

from __future__ import annotations

import json
from pathlib import Path

import sentencepiece as spm

from data_pipeline.tokenizer.document_start import DOCUMENT_START_PIECE
from data_pipeline.tokenizer.training import (
    ASSISTANT_PIECE,
    EOS_PIECE,
    MODEL_FILE,
    PAD_PIECE,
    UNK_PIECE,
    USER_PIECE,
)
from plumbing.atomic_write import atomic_write_bytes

# pretrain/finetune/chat_template.py in Jinja: </s> {system} <user> {user} <assistant> {reply} </s> ... (bos_token
# is the document start, </s>)
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}"
    f"{{% elif message['role'] == 'user' %}}{{{{ '{USER_PIECE}' + message['content'] }}}}"
    f"{{% elif message['role'] == 'assistant' %}}{{{{ '{ASSISTANT_PIECE}' + message['content'] + eos_token }}}}"
    "{% endif %}{% endfor %}"
    f"{{% if add_generation_prompt %}}{{{{ '{ASSISTANT_PIECE}' }}}}{{% endif %}}"
)


def has_role_symbols(model_file: Path) -> bool:
    try:
        processor = spm.SentencePieceProcessor(model_file=str(model_file))
    except (RuntimeError, OSError):  # not a SentencePiece model: copied as given, with no chat template
        return False
    return all(processor.piece_to_id(piece) != processor.unk_id() and processor.is_control(processor.piece_to_id(piece))
               for piece in (USER_PIECE, ASSISTANT_PIECE))


def write_hf_tokenizer_files(directory: Path, model_max_length: int = 4096) -> list[Path]:
    # bos_token is what transformers puts before a text: the document start of the token shards, not <s>, which
    # pretraining never saw (data_pipeline/tokenizer/document_start.py).
    special = {"bos_token": DOCUMENT_START_PIECE, "eos_token": EOS_PIECE, "unk_token": UNK_PIECE,
               "pad_token": PAD_PIECE}
    config = {
        "tokenizer_class": "LlamaTokenizer",
        **special,
        "add_bos_token": True,
        "add_eos_token": False,
        # Trained without a dummy prefix: HF must not add one either, or ids would differ from SentencePiece's.
        "add_prefix_space": False,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    if (directory / MODEL_FILE).is_file() and has_role_symbols(directory / MODEL_FILE):
        config["chat_template"] = CHAT_TEMPLATE
    written = []
    for name, obj in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        path = directory / name
        atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())
        written.append(path)
    return written


def transformers_available() -> bool:
    try:
        import transformers  # noqa: F401 - lazy: optional and heavy (seconds); this only asks whether it is there
    except ImportError:
        return False
    return True


def load_hf_tokenizer(directory: Path):
    """The exported tokenizer through transformers (raises ImportError when it is not installed)."""
    from transformers import AutoTokenizer  # lazy: optional, heavy dependency

    return AutoTokenizer.from_pretrained(str(directory))
