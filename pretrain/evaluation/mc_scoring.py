"""Score one multiple-choice item with a causal LM, two ways, in one forward pass.

* **letter**: the next-token logits right after the answer cue, compared over the four option-letter tokens —
  what Baichuan's C-Eval/MMLU script does.
* **option**: the log-likelihood of each option's full text as the continuation (sum over its tokens), and
  **option_norm**: the same divided by the option's length in characters (favours no length).

One batch holds the four rows `prompt + option_i` and a fifth, the prompt alone, whose last logits give the
letter scores (a row of its own, because a tokenizer may merge the cue with what follows). Too-long prompts lose
shots first, then (zero shots still too long) their oldest tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from pretrain.evaluation.mc_data import LETTERS, McItem
from pretrain.evaluation.mc_prompt import build_prompt, continuations

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
    """(context, continuation ids) of prompt + continuation, cut where its tokens leave the prompt's."""
    full = tokenizer.encode(prompt + continuation)
    n = 0
    while n < min(len(full), len(prompt_ids)) and full[n] == prompt_ids[n]:
        n += 1
    n = min(n, len(full) - 1)  # at least one continuation token
    return full[:n], full[n:]


@dataclass
class _Rows:
    letter_context: list[int]
    letter_ids: list[int]
    contexts: list[list[int]]
    options: list[list[int]]

    def longest(self) -> int:
        return max(len(c) + len(o) for c, o in zip(self.contexts, self.options))


def _rows(tokenizer: Tokenizer, prefix: list[int], layout: str, prompt: str, item: McItem) -> _Rows:
    prompt_ids = tokenizer.encode(prompt)
    letter_cont, option_cont = continuations(layout, item)
    letters = [_split(tokenizer, prompt_ids, prompt, c) for c in letter_cont]
    options = [_split(tokenizer, prompt_ids, prompt, c) for c in option_cont]
    return _Rows(
        prefix + prompt_ids,
        [cont[0] for _, cont in letters],
        [prefix + ctx for ctx, _ in options],
        [cont for _, cont in options],
    )


@torch.no_grad()
def score_item(model: LogitsFn, tokenizer: Tokenizer, layout: str, subject_title: str, shots: Sequence[McItem],
               item: McItem, max_len: int, prefix: Sequence[int] = (), device: str | torch.device = "cpu") -> ItemScore:
    k = len(shots)
    while True:
        rows = _rows(tokenizer, list(prefix), layout, build_prompt(layout, subject_title, list(shots[:k]), item), item)
        if rows.longest() <= max_len or k == 0:
            break
        k -= 1
    cut = max(0, rows.longest() - max_len, len(rows.letter_context) - max_len)
    sequences = [ctx[cut:] + opt for ctx, opt in zip(rows.contexts, rows.options)] + [rows.letter_context[cut:]]
    width = max(len(s) for s in sequences)
    batch = torch.zeros(len(sequences), width, dtype=torch.long)
    for i, s in enumerate(sequences):
        batch[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    log_probs = model(batch.to(device)).float().log_softmax(dim=-1).cpu()
    option_ll = []
    for i, (ctx, opt) in enumerate(zip(rows.contexts, rows.options)):
        start = len(ctx) - cut
        positions = torch.arange(start - 1, start - 1 + len(opt))
        option_ll.append(float(log_probs[i, positions, torch.tensor(opt)].sum()))
    letter_logits = log_probs[len(sequences) - 1, len(rows.letter_context) - cut - 1, rows.letter_ids]
    norm_ll = [ll / max(1, len(text)) for ll, text in zip(option_ll, item.options)]
    predictions = {
        "letter": LETTERS[int(letter_logits.argmax())],
        "option": LETTERS[max(range(4), key=option_ll.__getitem__)],
        "option_norm": LETTERS[max(range(4), key=norm_ll.__getitem__)],
    }
    return ItemScore(item.answer, predictions, k, cut > 0)
