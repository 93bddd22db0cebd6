"""One source's documents as an endless packed token stream, cut into windows of ``seq_len + 1`` tokens.

Epoch ``e`` is the source's training documents in a seeded shuffled order, concatenated (every document ends in
EOS); epochs follow each other forever, so a small source is simply repeated (upsampled) with a fresh order each
time. Window ``w`` is stream tokens ``[w * seq_len, w * seq_len + seq_len + 1)``: consecutive windows overlap by
one token, so every token is a label exactly once. Windows are consumed in a seeded order shuffled inside blocks
of ``shuffle_block`` windows, so neighbouring samples rarely come from one long document.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from data_pipeline.formats.token_shard_set import TokenShardSet
from data_pipeline.formats.token_shards import compact_index_dtype

_WINDOW_STREAM = 0x77696E  # "win": separates the window-order RNG stream from the epoch-order one


class DocumentStream:
    def __init__(
        self,
        shards: TokenShardSet,
        documents: np.ndarray,
        seq_len: int,
        seed: list[int] | None,
        shuffle_block: int = 1,
    ):
        """`documents`: the indices (into `shards`) forming each epoch; `seed` None keeps their order and
        the window order (validation), else both are shuffled from it."""
        self.shards = shards
        # int32 per-document arrays where they fit: memory is ~O(documents) per rank (docs/data_loader.md).
        self._index_dtype = compact_index_dtype(shards.num_documents)
        self.documents = np.asarray(documents).astype(self._index_dtype)
        self.lengths = shards.doc_lengths[self.documents]
        self.epoch_tokens = int(self.lengths.sum(dtype=np.int64))
        self.seq_len = seq_len
        self.seed = seed
        self.shuffle_block = max(1, shuffle_block) if seed is not None else 1
        # Small LRU caches: a window touches at most two epochs, a run of samples one or two window blocks.
        self._epochs: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._window_blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(document order, cumulative end offsets) of one epoch."""
        if epoch not in self._epochs:
            if self.seed is None:
                order = np.arange(self.documents.size, dtype=self._index_dtype)
            else:
                rng = np.random.default_rng([*self.seed, epoch])
                order = rng.permutation(self.documents.size).astype(self._index_dtype)
            self._epochs[epoch] = (order, np.cumsum(self.lengths[order], dtype=np.int64))
            while len(self._epochs) > 2:
                self._epochs.popitem(last=False)
        self._epochs.move_to_end(epoch)
        return self._epochs[epoch]

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
        epoch, offset = divmod(self._physical_window(k) * self.seq_len, self.epoch_tokens)
        filled, doc_number = 0, 0
        while filled < need:
            order, ends = self._epoch(epoch)
            position = int(np.searchsorted(ends, offset, side="right"))
            while filled < need and position < order.size:
                slot = order[position]
                start_in_doc = offset - (int(ends[position]) - int(self.lengths[slot]))
                piece = self.shards.document_tokens(
                    int(self.documents[slot]), start_in_doc, start_in_doc + need - filled
                )
                tokens[filled : filled + piece.size] = piece
                doc_ids[filled : filled + piece.size] = doc_number
                filled += piece.size
                offset += piece.size
                doc_number += 1
                position += 1
            epoch, offset = epoch + 1, 0
        return tokens, doc_ids
