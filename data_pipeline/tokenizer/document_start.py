"""The one document-start convention: a text starts after EOS, as every document does in the token shards.

`data_pipeline.tokenize` writes EOS after every document and never a BOS (data_pipeline/formats/token_shards.py),
so in the packed training stream each document follows the previous one's EOS and the model learns to begin a
document there; the BOS embedding is never trained. Every consumer therefore starts a plain text with exactly
`document_prefix`: `pretrain.generate`, `pretrain.evaluation` (and the in-training benchmark callback), the
fine-tuning chat template, and the exported Hugging Face tokenizer, which declares `</s>` as its `bos_token` with
`add_bos_token` so `AutoTokenizer(text)` gives the same ids (the GPT-2 convention: one token ends a document and
starts the next). Why EOS and not a BOS in the stream: checkpoints already trained on these shards saw EOS before
every document, and changing the shards would change every data fingerprint and resume position
(docs/tokenizer.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from data_pipeline.tokenizer.training import EOS_PIECE

# The piece a document starts after: what the exported tokenizer calls its bos_token.
DOCUMENT_START_PIECE = EOS_PIECE


def document_prefix(eos_id: int) -> list[int]:
    """The ids the token shards put before a document (the previous document's EOS)."""
    return [eos_id]


def as_document(ids: Sequence[int], eos_id: int) -> list[int]:
    """A plain text's ids as the model saw a document start in training."""
    return [*document_prefix(eos_id), *ids]
