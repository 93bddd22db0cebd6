"""Instruction data for supervised fine-tuning: JSONL examples → chat-template tokens → packed windows.

Examples are rendered (chat_template.py), shuffled with the seed, and packed greedily into windows of
`seq_len + 1` tokens; each example keeps its own document id, so with document masking no example attends to
another, and the rest of a window is padding that carries no loss. An example longer than a window is cut
(counted). The windows are the samples: epochs repeat them in a new order per epoch, and the state is the
global sample count, exactly as the pretraining loader's, so a resume on any data-parallel size continues at
the next global sample. Instruction sets are small (Baichuan-13B-Chat's is ~1e6 examples, a few GB of ids);
they are held in memory, unlike pretraining data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import sentencepiece as spm

from data_pipeline.tokenizer.input_records import read_records
from plumbing.input_files import resolve_input_files
from plumbing.user_error import UserError
from pretrain.data.batch import packed_batch
from pretrain.finetune.chat_template import ChatTokens, ExampleError, render

log = logging.getLogger(__name__)

STATE_KIND = "instruction_windows"
SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json")


class InstructionDataError(UserError):
    """The instruction data cannot be used (no example survives, or the checkpoint's data differs)."""


def read_examples(files: list[str], tokenizer, tokens: ChatTokens) -> tuple[list[tuple[list[int], list[bool]]], dict]:
    """Every file's examples in order, rendered; rejected records counted by reason."""
    rejections: dict[str, int] = {}
    examples = []
    for path in files:
        for record in read_records(Path(path), rejections):
            try:
                examples.append(render(record, tokenizer, tokens))
            except ExampleError as reason:
                rejections[str(reason)] = rejections.get(str(reason), 0) + 1
    return examples, rejections


def pack(examples: list[tuple[list[int], list[bool]]], window: int, pad_id: int, seed: int):
    """(tokens, doc_ids, trained) arrays [windows, window] from examples shuffled with `seed`; and how many
    examples were cut to fit."""
    order = np.random.default_rng(seed).permutation(len(examples))
    rows: list[list[tuple[list[int], list[bool]]]] = [[]]
    used, cut = 0, 0
    for index in order:
        ids, trained = examples[index]
        if len(ids) > window:
            ids, trained, cut = ids[:window], trained[:window], cut + 1
        if used + len(ids) > window:
            rows.append([])
            used = 0
        rows[-1].append((ids, trained))
        used += len(ids)
    tokens = np.full((len(rows), window), pad_id, dtype=np.int64)
    doc_ids = np.zeros((len(rows), window), dtype=np.int64)
    trained_mask = np.zeros((len(rows), window), dtype=bool)
    for r, row in enumerate(rows):
        start = 0
        for d, (ids, trained) in enumerate(row):
            tokens[r, start:start + len(ids)] = ids
            doc_ids[r, start:start + len(ids)] = d
            trained_mask[r, start:start + len(ids)] = trained
            start += len(ids)
        doc_ids[r, start:] = len(row)  # the padding is a document of its own: nothing attends across it
    return tokens, doc_ids, trained_mask, cut


class InstructionLoader:
    """The pretraining loader's interface (`iter`, `state_dict`, `describe`) over packed instruction windows."""

    sources: list = []  # no held-out pretraining sources: the validation callbacks report nothing

    def __init__(self, files: str | list[str], tokenizer_path: str, seq_len: int, micro_batch_size: int,
                 dp_rank: int, dp_size: int, seed: int, pad_id: int = 0):
        self.files = resolve_input_files(files, SUFFIXES, key="finetune.data")
        tokenizer = spm.SentencePieceProcessor(model_file=tokenizer_path)
        examples, self.rejections = read_examples(self.files, tokenizer, ChatTokens.of(tokenizer, tokenizer_path))
        if not examples:
            raise InstructionDataError(f"finetune.data: no usable example in {len(self.files)} file(s) "
                                       f"(rejected: {self.rejections or 'none read'})")
        self.num_examples = len(examples)
        self.tokens, self.doc_ids, self.trained, self.cut = pack(examples, seq_len + 1, pad_id, seed)
        # Counted after packing, where cut examples have lost their tails: the targets the loss is taken on (a
        # window's first token is never a label, and always an example's untrained start).
        self.trained_tokens = int(self.trained[:, 1:].sum())
        self.seq_len, self.micro_batch_size = seq_len, micro_batch_size
        self.dp_rank, self.dp_size, self.seed = dp_rank, dp_size, seed
        self.consumed_samples = 0
        self.fingerprint = hashlib.sha256(self.tokens.tobytes() + self.trained.tobytes()).hexdigest()[:16]
        self._epoch_orders: dict[int, np.ndarray] = {}

    @property
    def global_batch_size(self) -> int:
        return self.micro_batch_size * self.dp_size

    @property
    def num_windows(self) -> int:
        return len(self.tokens)

    def window_of(self, sample: int) -> int:
        epoch, position = divmod(sample, self.num_windows)
        if epoch not in self._epoch_orders:
            self._epoch_orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)}
        return int(self._epoch_orders[epoch][position])

    def batch(self, first: int) -> dict:
        rows = [self.window_of(first + j) for j in range(self.micro_batch_size)]
        # The label at position i is token i+1: it carries loss only when that token is a trained one. Masked
        # inside packed_batch, before it pins the batch (a label tensor made afterwards would be pageable, and
        # its non_blocking copy would wait for the device).
        return packed_batch(self.tokens[rows], self.doc_ids[rows], self.trained[rows])

    def __iter__(self) -> Iterator[dict]:
        while True:
            batch = self.batch(self.consumed_samples + self.dp_rank * self.micro_batch_size)
            self.consumed_samples += self.global_batch_size
            yield batch

    def state_dict(self) -> dict:
        return {"kind": STATE_KIND, "consumed_samples": self.consumed_samples, "fingerprint": self.fingerprint}

    def load_state_dict(self, state: dict) -> None:
        if state.get("kind") != STATE_KIND:
            # A pretraining checkpoint's data position means nothing here: fine-tuning starts at sample 0.
            return
        if state.get("fingerprint") != self.fingerprint:
            raise InstructionDataError("the checkpoint's instruction data differs from finetune.data (files, "
                                       "tokenizer, seq_len or seed changed) — restore them, or start a fresh run "
                                       "(train.resume=none)")
        self.consumed_samples = int(state["consumed_samples"])

    def describe(self, total_samples: int) -> str:
        epochs = total_samples / self.num_windows
        rejected = json.dumps(self.rejections, sort_keys=True) if self.rejections else "none"
        return (f"instruction data: {self.num_examples} examples from {len(self.files)} file(s) packed into "
                f"{self.num_windows} windows of {self.seq_len + 1} tokens ({self.trained_tokens} trained tokens, "
                f"{self.cut} examples cut to fit); {epochs:.2f} epochs planned; rejected: {rejected}")
