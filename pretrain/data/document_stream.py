"""One source's documents as an endless packed token stream, cut into windows of ``seq_len + 1`` tokens.

Epoch ``e`` is the source's training documents in a seeded shuffled order, concatenated (every document ends in
EOS); epochs follow each other forever, so a small source is simply repeated (upsampled) with a fresh order each
time. Window ``w`` is stream tokens ``[w * seq_len, w * seq_len + seq_len + 1)``: consecutive windows overlap by
one token, so every token is a label exactly once. Windows are consumed in a seeded order shuffled inside blocks
of ``shuffle_block`` windows, so neighbouring samples rarely come from one long document.

The epoch order is two-level, so that nothing per document lives in memory (docs/data_loader.md):
  * the *base order* is a seeded pseudo-random permutation of all the source's documents, fixed across epochs
    (`DocumentPermutation`, computed on demand); the cumulative training tokens along it are the index file
    ``train_ends`` (`document_index.py`), memory-mapped;
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

Run = tuple[np.ndarray, int, np.ndarray]  # (documents, tokens to skip in the first, their lengths)


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

    def _base_position(self, chunk: int, within: int) -> tuple[int, int]:
        """(base position of the document holding token `within` of `chunk`, that token's offset in the index's
        cumulative training tokens)."""
        size, ends = self.index.chunk_size, self.index.train_ends
        low, high = chunk * size, min(chunk * size + size, ends.size)
        base = int(ends[low - 1]) if low else 0
        return low + int(np.searchsorted(ends[low:high], base + within, side="right")), base + within

    def run(self, epoch: int, offset: int, tokens: int) -> Run:
        """The documents covering epoch tokens ``[offset, offset + tokens)`` (or up to the epoch's end)."""
        order, ends = self._epoch(epoch)
        size, train_ends = self.index.chunk_size, self.index.train_ends
        first_slot = int(np.searchsorted(ends, offset, side="right"))
        last_token = min(offset + tokens, self.epoch_tokens) - 1
        last_slot = int(np.searchsorted(ends, last_token, side="right"))
        first_chunk, last_chunk = int(order[first_slot]), int(order[last_slot])
        first_start = int(ends[first_slot]) - int(self.chunk_tokens[first_chunk])  # the chunk's first epoch token
        last_start = int(ends[last_slot]) - int(self.chunk_tokens[last_chunk])
        first, target = self._base_position(first_chunk, offset - first_start)
        last, _ = self._base_position(last_chunk, last_token - last_start)
        if first_slot == last_slot:
            positions = np.arange(first, last + 1)
        else:  # the rest of the first chunk, every chunk between (all their positions), the last one's head
            middle = order[first_slot + 1 : last_slot] * size
            counts = np.minimum(middle + size, train_ends.size) - middle
            inner = np.repeat(middle - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
            positions = np.concatenate([
                np.arange(first, min(first_chunk * size + size, train_ends.size)), inner,
                np.arange(last_chunk * size, last + 1),
            ])
        document_ends = train_ends[positions]
        lengths = document_ends - np.where(positions > 0, train_ends[np.maximum(positions - 1, 0)], 0)
        keep = lengths > 0  # held-out documents count no tokens: skipped
        skip = target - (int(document_ends[0]) - int(lengths[0]))
        return self.index.permutation(positions[keep]), skip, lengths[keep]

    def documents(self, epoch: int) -> Iterator[int]:
        """Every training document of one epoch, in stream order (for tests and inspection: O(documents) time)."""
        order, _ = self._epoch(epoch)
        size, ends = self.index.chunk_size, self.index.train_ends
        for chunk in order:
            low, high = int(chunk) * size, min(int(chunk) * size + size, ends.size)
            lengths = np.diff(ends[low:high], prepend=int(ends[low - 1]) if low else 0)
            yield from self.index.permutation(np.arange(low, high)[lengths > 0]).tolist()


class ValidationOrder:
    """The held-out documents in index order, the same in every epoch (so evaluations are comparable)."""

    def __init__(self, index: SourceIndex):
        self.ids, self.ends = index.validation_ids, index.validation_ends
        self.epoch_tokens = index.validation_tokens
        self.num_documents = int(self.ids.size)

    def run(self, epoch: int, offset: int, tokens: int) -> Run:
        first = int(np.searchsorted(self.ends, offset, side="right"))
        last = min(int(np.searchsorted(self.ends, offset + tokens - 1, side="right")) + 1, self.ends.size)
        ends = self.ends[first:last]
        lengths = np.diff(ends, prepend=int(self.ends[first - 1]) if first else 0)
        return np.asarray(self.ids[first:last]), offset - (int(ends[0]) - int(lengths[0])), lengths

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
            documents, skip, lengths = self.order.run(epoch, offset, need - filled)
            shards, starts, _ = self.shards.document_spans(documents)
            for shard, start, length in zip(shards.tolist(), starts.tolist(), lengths.tolist()):
                take = min(length - skip, need - filled)
                tokens[filled : filled + take] = self.shards.read_tokens(shard, start + skip, start + skip + take)
                doc_ids[filled : filled + take] = doc_number
                filled += take
                position += take
                doc_number += 1
                skip = 0
                if filled == need:
                    break
        return tokens, doc_ids
