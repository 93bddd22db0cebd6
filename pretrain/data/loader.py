"""`PretrainDataLoader`: mixed, packed, data-parallel batches with an exactly resumable global position.

Global sample ``g`` is a pure function of (seed, mixture, shards, seq_len): the mixture schedule picks its source
and its index within that source, whose document stream yields the window. Micro-step ``i`` (counting from the
loader's position) covers global samples ``[c + i*G, c + (i+1)*G)`` with ``G = micro_batch_size * dp_size``;
rank ``r`` takes slots ``r*mb .. (r+1)*mb``. The state is the *global* count of consumed samples, so resuming on
another ``dp_size`` continues at exactly the next global sample.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from data_pipeline.formats.token_shard_set import TokenShardSet
from data_pipeline.formats.token_shards import TokenShardError
from pretrain.data.batch import packed_batch
from pretrain.data.config import DataConfig
from pretrain.data.document_index import name_seed, open_source_index
from pretrain.data.document_stream import DocumentStream, TrainingOrder, ValidationOrder
from pretrain.data.errors import DataConfigError, DataStateMismatchError, DataStateVersionError
from pretrain.data.mixture import MixtureSchedule, resolve_fractions

# 2: the on-disk document index (issue 15) — another epoch order and held-out split than version 1.
STATE_VERSION = 2


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class SourceSummary:
    name: str
    fraction: float
    train_documents: int
    train_tokens: int
    validation_documents: int
    validation_tokens: int


class MixtureSource:
    """One configured source: its shards, its document index, and its training/validation streams."""

    def __init__(self, name: str, shards: TokenShardSet, config: DataConfig, seq_len: int):
        self.name = name
        self.shards = shards
        self.index = open_source_index(
            name, shards, seed=config.seed, validation_fraction=config.validation_fraction,
            cache_dir=config.index_cache_dir,
        )
        seed = [config.seed, name_seed(name)]
        self.train = DocumentStream(shards, TrainingOrder(self.index, seed), seq_len, seed, config.window_shuffle_block)
        self.validation = DocumentStream(shards, ValidationOrder(self.index, shards), seq_len, window_seed=None)


class PretrainDataLoader:
    """Iterate to get this rank's micro-batches; `state_dict`/`load_state_dict` for checkpoints."""

    def __init__(
        self, config: DataConfig, *, seq_len: int, micro_batch_size: int, dp_rank: int = 0, dp_size: int = 1
    ):
        if not config.sources:
            raise DataConfigError("data.sources is empty — list at least one token-shard directory")
        if not 0 <= dp_rank < dp_size or micro_batch_size < 1 or seq_len < 1:
            raise ValueError(
                f"bad loader geometry: dp_rank={dp_rank} dp_size={dp_size} mb={micro_batch_size} seq_len={seq_len}"
            )
        if not 0 <= config.validation_fraction < 1:
            raise DataConfigError(
                f"data.validation_fraction must be in [0, 1), got {config.validation_fraction}"
            )
        self.config = config
        self.seq_len = seq_len
        self.micro_batch_size = micro_batch_size
        self.dp_rank = dp_rank
        self.dp_size = dp_size
        self.consumed_samples = 0
        names = [s.name or s.path for s in config.sources]
        if len(set(names)) != len(names):
            raise DataConfigError(f"data.sources names must be unique, got {names}")
        self.sources = [
            self._open_source(name, s.path, config, seq_len) for name, s in zip(names, config.sources)
        ]
        train_tokens = [src.train.epoch_tokens for src in self.sources]
        self.fractions = resolve_fractions(config.sources, train_tokens)
        self.schedule = MixtureSchedule(self.fractions, config.mixture_block_size, config.seed)
        self._fingerprint_parts = self._compute_fingerprint_parts()
        self.fingerprint = _digest(self._fingerprint_parts)

    @staticmethod
    def _open_source(name: str, path: str, config: DataConfig, seq_len: int) -> MixtureSource:
        try:
            shards = TokenShardSet.from_path(path)
        except TokenShardError as err:
            raise DataConfigError(f"data source {name!r}: {err}") from None
        if shards.num_tokens == 0:
            raise DataConfigError(
                f"data source {name!r} at {path} holds no tokens — tokenize some text into it"
            )
        return MixtureSource(name, shards, config, seq_len)

    # -- the global sample order -------------------------------------------------------------------------
    def global_sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens[seq_len + 1], doc_ids[seq_len + 1]) of global sample `index`."""
        source, k = self.schedule.locate(index)
        return self.sources[source].train.window(k)

    def source_of(self, index: int) -> str:
        return self.sources[self.schedule.locate(index)[0]].name

    @property
    def global_batch_size(self) -> int:
        return self.micro_batch_size * self.dp_size

    def _batch(
        self, window: Callable[[int], tuple[np.ndarray, np.ndarray]], first: int
    ) -> dict:
        """This rank's micro-batch: rows `window(first) .. window(first + mb - 1)` (see `packed_batch`)."""
        rows = [window(first + j) for j in range(self.micro_batch_size)]
        return packed_batch(np.stack([t for t, _ in rows]), np.stack([d for _, d in rows]))

    def __iter__(self) -> Iterator[dict]:
        """Endless: sources repeat as epochs. The state counts a micro-batch as consumed once it is yielded."""
        while True:
            first = self.consumed_samples + self.dp_rank * self.micro_batch_size
            batch = self._batch(self.global_sample, first)
            self.consumed_samples += self.global_batch_size
            yield batch

    # -- checkpoint state ---------------------------------------------------------------------------------
    def _compute_fingerprint_parts(self) -> dict:
        c = self.config
        return {
            "version": STATE_VERSION,
            "settings": {
                "seq_len": self.seq_len,
                "seed": c.seed,
                "validation_fraction": c.validation_fraction,
                "mixture_block_size": self.schedule.block_size,
                "window_shuffle_block": c.window_shuffle_block,
            },
            "sources": {
                src.name: _digest({"fraction": round(f, 12), "shards": src.shards.content_signature()})
                for src, f in zip(self.sources, self.fractions)
            },
        }

    def state_dict(self) -> dict:
        return {
            "consumed_samples": self.consumed_samples,
            "seed": self.config.seed,
            "fingerprint": self.fingerprint,
            "fingerprint_parts": self._fingerprint_parts,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue at the saved global sample; refuse (DataStateMismatchError) when the data changed."""
        version = (state.get("fingerprint_parts") or {}).get("version")
        if version != STATE_VERSION:
            raise DataStateVersionError(
                f"the checkpoint's data state is from loader version {version or 'unknown (older)'}, whose sample "
                f"order this loader (version {STATE_VERSION}, on-disk document index) does not reproduce — finish "
                "that run with the release that started it, or start a fresh run (train.resume=none)"
            )
        if state.get("fingerprint") != self.fingerprint:
            raise DataStateMismatchError(self._mismatch(state.get("fingerprint_parts") or {}))
        self.consumed_samples = int(state["consumed_samples"])

    def _mismatch(self, saved: dict) -> str:
        now = self._fingerprint_parts
        changes = []
        for key, value in now.get("settings", {}).items():
            if saved.get("settings", {}).get(key) != value:
                changes.append(f"{key} {saved.get('settings', {}).get(key)} -> {value}")
        saved_sources, now_sources = saved.get("sources", {}), now["sources"]
        changes += [f"source {n!r} added" for n in now_sources if n not in saved_sources]
        changes += [f"source {n!r} removed" for n in saved_sources if n not in now_sources]
        changes += [
            f"source {n!r} shards or weight changed"
            for n in now_sources
            if n in saved_sources and saved_sources[n] != now_sources[n]
        ]
        what = "; ".join(changes) or "fingerprint differs"
        return (
            f"the checkpoint's data state does not match this data mixture ({what}) — restore the original "
            "data config and shards, or start a fresh run (train.resume=none)"
        )

    # -- reporting and evaluation -------------------------------------------------------------------------
    def summaries(self) -> list[SourceSummary]:
        return [
            SourceSummary(
                src.name,
                f,
                src.train.num_documents,
                src.train.epoch_tokens,
                src.validation.num_documents,
                src.validation.epoch_tokens,
            )
            for src, f in zip(self.sources, self.fractions)
        ]

    def describe(self, total_samples: int | None = None) -> str:
        """A table of the effective mixture; with `total_samples`, the tokens and epochs each source gets."""
        lines = [
            f"data mixture (seq_len {self.seq_len}, seed {self.config.seed}, fingerprint {self.fingerprint}):"
        ]
        for s in self.summaries():
            line = (
                f"  {s.name:<24} {s.fraction:7.2%} of samples | train {s.train_documents:,} docs "
                f"{s.train_tokens:,} tokens | validation {s.validation_documents:,} docs {s.validation_tokens:,} tokens"
            )
            # a source completes an epoch every train_tokens / (fraction * seq_len) global samples
            line += f" | an epoch every {s.train_tokens / (s.fraction * self.seq_len):,.0f} samples"
            if total_samples:
                tokens = s.fraction * total_samples * self.seq_len
                line += f" | {tokens:,.0f} tokens = {tokens / s.train_tokens:.2f} epochs"
            lines.append(line)
        return "\n".join(lines)

    def validation_batches(self, source_name: str, max_batches: int) -> Iterator[dict]:
        """This rank's share of up to `max_batches` held-out global batches of one source (the same on every call).

        A small held-out split is read cyclically so that at least one full global batch exists.
        """
        source = next((s for s in self.sources if s.name == source_name), None)
        if source is None:
            raise DataConfigError(
                f"no data source named {source_name!r} (have {[s.name for s in self.sources]})"
            )
        stream = source.validation
        if stream.epoch_tokens == 0:
            return
        available = max(1, stream.epoch_tokens // (self.seq_len * self.global_batch_size))
        for i in range(min(max_batches, available)):
            yield self._batch(
                stream.window, i * self.global_batch_size + self.dp_rank * self.micro_batch_size
            )
