"""One source's documents as an endless packed token stream, cut into windows of ``seq_len + 1`` tokens.

Epoch ``e`` is the source's training documents in a seeded shuffled order, concatenated (every document ends in
EOS); epochs follow each other forever, so a small source is simply repeated (upsampled) with a fresh order each
time. Window ``w`` is stream tokens ``[w * seq_len, w * seq_len + seq_len + 1)``: consecutive windows overlap by
one token, so every token is a label exactly once. Windows are consumed in a seeded order shuffled inside blocks
of ``shuffle_block`` windows, so neighbouring samples rarely come from one long document.

The epoch order is two-level, so that nothing per document lives in memory (docs/data_loader.md):
  * the *base order* is a seeded pseudo-random permutation of all the source's documents, fixed across epochs
    (`DocumentPermutation`); along it the index (`document_index.py`, built once, read by slices) holds each
    document's cumulative training tokens and where its tokens lie in the shards;
  * an epoch cuts the base order into at most 65,536 chunks of consecutive positions and visits the chunks in an
    order seeded by (seed, source, epoch) — a permutation of chunks, ~1 MiB per cached epoch at any size.
Neighbours in the stream are neighbours in the base order, i.e. unrelated documents; a source of at most 65,536
documents has one document per chunk, so each of its epochs is a uniform shuffle of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from data_pipeline.formats.token_shard_set import TokenShardSet
from pretrain.data.document_index import SourceIndex

_WINDOW_STREAM = 0x77696E  # "win": separates the window-order RNG stream from the epoch-order one

# (source token position where each document starts, tokens to skip in the first, their lengths)
Run = tuple[np.ndarray, int, np.ndarray]


class TrainingOrder:
    """Where each token of each epoch comes from: epoch-shuffled chunks of the index's base order."""

    def __init__(self, index: SourceIndex, seed: list[int]):
        self.index = index
        self.seed = seed
        self.epoch_tokens = index.train_tokens
        self.num_documents = index.train_documents
        self.chunk_tokens = np.diff(index.chunk_ends, prepend=0)
        self._epochs: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk order, cumulative end offsets of the chunks in that order) of one epoch; two are cached."""
        if epoch not in self._epochs:
            order = np.random.default_rng([*self.seed, epoch]).permutation(self.chunk_tokens.size)
            self._epochs[epoch] = (order, np.cumsum(self.chunk_tokens[order], dtype=np.int64))
            while len(self._epochs) > 2:
                self._epochs.popitem(last=False)
        self._epochs.move_to_end(epoch)
        return self._epochs[epoch]

    def run(self, epoch: int, offset: int, tokens: int) -> Run:
        """The documents covering epoch tokens ``[offset, offset + tokens)`` (or up to the epoch's end): per chunk
        touched, a slice of consecutive base positions, so a window reads a few neighbouring index pages."""
        order, ends = self._epoch(epoch)
        first_slot = int(np.searchsorted(ends, offset, side="right"))
        last_token = min(offset + tokens, self.epoch_tokens) - 1
        last_slot = int(np.searchsorted(ends, last_token, side="right"))
        first_start = int(ends[first_slot]) - int(self.chunk_tokens[order[first_slot]])  # its first epoch token
        if self.index.chunk_size == 1:  # a chunk is a document: the epoch order is the document order
            positions = order[first_slot : last_slot + 1]
            lengths = self.chunk_tokens[positions]
            keep = lengths > 0  # held-out documents count no tokens: skipped
            return self.index.train_starts.gather(positions[keep]), offset - first_start, lengths[keep]
        starts, lengths, skip = [], [], 0
        for slot in range(first_slot, last_slot + 1):
            chunk = int(order[slot])
            chunk_start = int(ends[slot]) - int(self.chunk_tokens[chunk])
            if ends[slot] == chunk_start:
                continue  # every document of this chunk is held out
            run_starts, run_skip, run_lengths = self._chunk_run(chunk, max(offset, chunk_start) - chunk_start,
                                                                min(last_token, int(ends[slot]) - 1) - chunk_start)
            skip = run_skip if slot == first_slot else skip
            starts.append(run_starts)
            lengths.append(run_lengths)
        return np.concatenate(starts), skip, np.concatenate(lengths)

    def _chunk_run(self, chunk: int, first_token: int, last_token: int) -> Run:
        """The documents of `chunk` holding its tokens ``first_token .. last_token`` (inclusive)."""
        size, ends = self.index.chunk_size, self.index.train_ends
        low, high = chunk * size, min(chunk * size + size, ends.size)
        base = ends.at(low - 1) if low else 0
        first = ends.searchsorted_right(base + first_token, low, high)
        last = min(ends.searchsorted_right(base + last_token, first, high), high - 1)
        cumulative = ends.read(first - 1, last + 1) if first else np.concatenate([[0], ends.read(0, last + 1)])
        lengths = np.diff(cumulative)
        keep = lengths > 0
        starts = self.index.train_starts.read(first, last + 1)
        return starts[keep], base + first_token - int(cumulative[0]), lengths[keep]

    def documents(self, epoch: int) -> Iterator[int]:
        """Every training document of one epoch, in stream order (for tests and inspection: O(documents) time)."""
        order, _ = self._epoch(epoch)
        size, ends = self.index.chunk_size, self.index.train_ends
        for chunk in order:
            low, high = int(chunk) * size, min(int(chunk) * size + size, ends.size)
            lengths = np.diff(ends.read(low - 1, high) if low else np.concatenate([[0], ends.read(0, high)]))
            yield from self.index.permutation(np.arange(low, high)[lengths > 0]).tolist()


class ValidationOrder:
    """The held-out documents in index order, the same in every epoch (so evaluations are comparable)."""

    def __init__(self, index: SourceIndex, shards: TokenShardSet):
        self.shards = shards
        self.ids, self.ends = index.validation_ids, index.validation_ends
        self.epoch_tokens = index.validation_tokens
        self.num_documents = int(self.ids.size)

    def run(self, epoch: int, offset: int, tokens: int) -> Run:
        first = self.ends.searchsorted_right(offset)
        last = min(self.ends.searchsorted_right(offset + tokens - 1, first), self.ends.size - 1)
        cumulative = self.ends.read(first - 1, last + 1) if first else np.concatenate([[0], self.ends.read(0, last + 1)])
        starts = self.shards.source_token_starts(self.ids.read(first, last + 1))
        return starts, offset - int(cumulative[0]), np.diff(cumulative)

    def documents(self, epoch: int) -> Iterator[int]:
        return iter(self.ids.tolist())


class DocumentStream:
    def __init__(
        self,
        shards: TokenShardSet,
        order: TrainingOrder | ValidationOrder,
        seq_len: int,
        window_seed: list[int] | None,
        shuffle_block: int = 1,
    ):
        """`window_seed` None keeps the windows in order (validation), else they are shuffled in blocks."""
        self.shards = shards
        self.order = order
        self.epoch_tokens = order.epoch_tokens
        self.num_documents = order.num_documents
        self.seq_len = seq_len
        self.seed = window_seed
        self.shuffle_block = max(1, shuffle_block) if window_seed is not None else 1
        self._window_blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def epoch_documents(self, epoch: int) -> Iterator[int]:
        return self.order.documents(epoch)

    def _physical_window(self, k: int) -> int:
        if self.shuffle_block == 1:
            return k
        block, offset = divmod(k, self.shuffle_block)
        if block not in self._window_blocks:
            self._window_blocks[block] = np.random.default_rng(
                [*self.seed, _WINDOW_STREAM, block]
            ).permutation(self.shuffle_block)
            while len(self._window_blocks) > 2:
                self._window_blocks.popitem(last=False)
        self._window_blocks.move_to_end(block)
        return block * self.shuffle_block + int(self._window_blocks[block][offset])

    def window(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k-th window: (tokens[seq_len + 1], doc_ids[seq_len + 1]), doc_ids numbering documents from 0."""
        need = self.seq_len + 1
        tokens = np.empty(need, dtype=np.int64)
        doc_ids = np.empty(need, dtype=np.int64)
        position = self._physical_window(k) * self.seq_len  # Python ints: no overflow at any stream length
        filled, doc_number = 0, 0
        while filled < need:
            epoch, offset = divmod(position, self.epoch_tokens)
            starts, skip, lengths = self.order.run(epoch, offset, need - filled)
            for start, length in zip(starts.tolist(), lengths.tolist()):
                take = min(length - skip, need - filled)
                tokens[filled : filled + take] = self.shards.read_source_tokens(start + skip, start + skip + take)
                doc_ids[filled : filled + take] = doc_number
                filled += take
                position += take
                doc_number += 1
                skip = 0
                if filled == need:
                    break
        return tokens, doc_ids
