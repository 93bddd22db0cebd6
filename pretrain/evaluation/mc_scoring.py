"""Score one multiple-choice item with a causal LM, two ways, in one forward pass.

* **letter**: the log-likelihood of each option letter right after the answer cue. When the letter is one token
  (SentencePiece's "▁A", or "A" after "答案：") this is exactly comparing the next-token logits of the four letter
  tokens — what Baichuan's C-Eval/MMLU script does; it stays right for tokenizers that split the letter.
* **option**: the log-likelihood of each option's full text as the continuation (sum over its tokens), and
  **option_norm**: the same divided by the option's length in characters (favours no length).

One batch holds the eight rows `prompt + continuation`. The prompt is fitted for the letter rows alone, so an
option's length never changes the shots or the letter score: CMMLU's exactly as its `gen_prompt` does
(mc_prompt.cmmlu_prompt: the longest shots first), C-Eval's and MMLU's by dropping the last shot until the letter
rows fit; a letter prompt still too long (zero shots) loses its oldest tokens. An option row longer than the context
then loses its own oldest tokens, and no other row's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from pretrain.evaluation.mc_data import LETTERS, McItem
from pretrain.evaluation.mc_prompt import build_prompt, cmmlu_prompt, continuations

METHODS = ("letter", "option", "option_norm")
LogitsFn = Callable[[torch.Tensor], torch.Tensor]  # input_ids [B, L] -> logits [B, L, V]


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...


@dataclass
class ItemScore:
    answer: str
    predictions: dict[str, str]  # method -> predicted letter
    shots: int
    truncated: bool  # the letter prompt lost its oldest tokens
    options_cut: bool = False  # an option-text row (only) lost its oldest tokens

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


def _cuts(rows: list[tuple[list[int], list[int]]], max_len: int) -> list[int]:
    """Leading tokens each row must lose to fit `max_len`, keeping at least one context token (the first
    continuation token needs a position to be predicted from)."""
    return [min(max(0, len(ctx) + len(cont) - max_len), len(ctx) - 1) for ctx, cont in rows]


def _letter_prompt(tokenizer: Tokenizer, prefix: list[int], layout: str, subject_title: str,
                   shots: Sequence[McItem], item: McItem, max_len: int) -> tuple[str, int]:
    """(prompt, shots kept) fitted so that the letter rows fit `max_len` (the option rows play no part)."""
    if layout == "cmmlu":
        return cmmlu_prompt(subject_title, list(shots), item, tokenizer.encode, max_len - len(prefix))
    kept = list(shots)
    while True:
        prompt = build_prompt(layout, subject_title, kept, item)
        if not kept or _longest(_rows(tokenizer, prefix, layout, prompt, item)[:4]) <= max_len:
            return prompt, len(kept)
        kept = kept[:-1]  # C-Eval's and MMLU's scripts drop from the end


@torch.no_grad()
def continuation_log_likelihoods(model: LogitsFn, rows: list[tuple[list[int], list[int]]],
                                 cuts: int | Sequence[int] = 0, device: str | torch.device = "cpu") -> list[float]:
    """Sum of log p(continuation | context) per row, one forward over the right-padded batch (padding sits after
    every scored position, so a causal model ignores it). `cuts` drops that many leading tokens of each row (one
    number: of every row)."""
    cuts = [cuts] * len(rows) if isinstance(cuts, int) else list(cuts)
    sequences = [(ctx + cont)[cut:] for (ctx, cont), cut in zip(rows, cuts)]
    batch = torch.zeros(len(sequences), max(len(s) for s in sequences), dtype=torch.long)
    for i, s in enumerate(sequences):
        batch[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    log_probs = model(batch.to(device)).float().log_softmax(dim=-1).cpu()
    scores = []
    for i, ((ctx, cont), cut) in enumerate(zip(rows, cuts)):
        start = len(ctx) - cut
        positions = torch.arange(start - 1, start - 1 + len(cont))
        scores.append(float(log_probs[i, positions, torch.tensor(cont)].sum()))
    return scores


def _argmax_letter(scores: Sequence[float]) -> str:
    return LETTERS[max(range(len(scores)), key=scores.__getitem__)]


def score_item(model: LogitsFn, tokenizer: Tokenizer, layout: str, subject_title: str, shots: Sequence[McItem],
               item: McItem, max_len: int, prefix: Sequence[int] = (), device: str | torch.device = "cpu") -> ItemScore:
    prompt, kept = _letter_prompt(tokenizer, list(prefix), layout, subject_title, shots, item, max_len)
    rows = _rows(tokenizer, list(prefix), layout, prompt, item)
    cuts = _cuts(rows, max_len)
    scores = continuation_log_likelihoods(model, rows, cuts, device)
    letter, option = scores[:4], scores[4:]
    predictions = {
        "letter": _argmax_letter(letter),
        "option": _argmax_letter(option),
        "option_norm": _argmax_letter([ll / max(1, len(text)) for ll, text in zip(option, item.options)]),
    }
    return ItemScore(item.answer, predictions, kept, any(cuts[:4]), any(cuts[4:]))
