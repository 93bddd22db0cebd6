"""Score one multiple-choice item with a causal LM, two ways, in one forward pass.

* **letter**: the log-likelihood of each option letter right after the answer cue. When the letter is one token
  (SentencePiece's "▁A", or "A" after "答案：") this is exactly comparing the next-token logits of the four letter
  tokens — what Baichuan's C-Eval/MMLU script does; it stays right for tokenizers that split the letter.
* **option**: the log-likelihood of each option's full text as the continuation (sum over its tokens), and
  **option_norm**: the same divided by the option's length in characters (favours no length).

One batch holds the eight rows `prompt + continuation`. A too-long prompt loses shots first (CMMLU's longest
first, as its script does; the others' last first), then (zero shots still too long) its oldest tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from pretrain.evaluation.mc_data import LETTERS, McItem
from pretrain.evaluation.mc_prompt import build_prompt, continuations, fewer_shots

METHODS = ("letter", "option", "option_norm")
LogitsFn = Callable[[torch.Tensor], torch.Tensor]  # input_ids [B, L] -> logits [B, L, V]


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...


@dataclass
class ItemScore:
    answer: str
    predictions: dict[str, str]  # method -> predicted letter
    shots: int
    truncated: bool

    def correct(self, method: str) -> bool:
        return self.predictions[method] == self.answer


def _split(tokenizer: Tokenizer, prompt_ids: list[int], prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context, continuation ids) of prompt + continuation, cut where its tokens leave the prompt's (a tokenizer
    may merge the cue's last characters with the continuation)."""
    full = tokenizer.encode(prompt + continuation)
    n = 0
    while n < min(len(full), len(prompt_ids)) and full[n] == prompt_ids[n]:
        n += 1
    n = min(n, len(full) - 1)  # at least one continuation token
    return full[:n], full[n:]


def _rows(tokenizer: Tokenizer, prefix: list[int], layout: str, prompt: str, item: McItem) -> list[tuple[list[int], list[int]]]:
    """(context, continuation) for the four letters, then the four option texts."""
    prompt_ids = tokenizer.encode(prompt)
    letters, options = continuations(layout, item)
    return [(prefix + ctx, cont) for ctx, cont in (_split(tokenizer, prompt_ids, prompt, c) for c in letters + options)]


def _longest(rows: list[tuple[list[int], list[int]]]) -> int:
    return max(len(ctx) + len(cont) for ctx, cont in rows)


@torch.no_grad()
def continuation_log_likelihoods(model: LogitsFn, rows: list[tuple[list[int], list[int]]], cut: int = 0,
                                 device: str | torch.device = "cpu") -> list[float]:
    """Sum of log p(continuation | context) per row, one forward over the right-padded batch (padding sits after
    every scored position, so a causal model ignores it). `cut` drops that many leading tokens of every row."""
    sequences = [(ctx + cont)[cut:] for ctx, cont in rows]
    batch = torch.zeros(len(sequences), max(len(s) for s in sequences), dtype=torch.long)
    for i, s in enumerate(sequences):
        batch[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    log_probs = model(batch.to(device)).float().log_softmax(dim=-1).cpu()
    scores = []
    for i, (ctx, cont) in enumerate(rows):
        start = len(ctx) - cut
        positions = torch.arange(start - 1, start - 1 + len(cont))
        scores.append(float(log_probs[i, positions, torch.tensor(cont)].sum()))
    return scores


def _argmax_letter(scores: Sequence[float]) -> str:
    return LETTERS[max(range(len(scores)), key=scores.__getitem__)]


def score_item(model: LogitsFn, tokenizer: Tokenizer, layout: str, subject_title: str, shots: Sequence[McItem],
               item: McItem, max_len: int, prefix: Sequence[int] = (), device: str | torch.device = "cpu") -> ItemScore:
    kept = list(shots)
    while True:
        rows = _rows(tokenizer, list(prefix), layout, build_prompt(layout, subject_title, kept, item), item)
        if _longest(rows) <= max_len or not kept:
            break
        kept = fewer_shots(layout, kept, tokenizer.encode)
    # Keep at least one context token per row: the first continuation token needs a position to be predicted from.
    cut = min(max(0, _longest(rows) - max_len), min(len(ctx) for ctx, _ in rows) - 1)
    scores = continuation_log_likelihoods(model, rows, cut, device)
    letter, option = scores[:4], scores[4:]
    predictions = {
        "letter": _argmax_letter(letter),
        "option": _argmax_letter(option),
        "option_norm": _argmax_letter([ll / max(1, len(text)) for ll, text in zip(option, item.options)]),
    }
    return ItemScore(item.answer, predictions, len(kept), cut > 0)
