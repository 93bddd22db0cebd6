"""The data section of the pretraining config: which token-shard sets to mix, and how.

Declared once as dataclasses (Hydra structured config; YAML presets live in ``conf/data/``). Code reads these
fields, never raw dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional  # noqa: UP035 - OmegaConf needs typing generics on py3.10


@dataclass
class SourceConfig:
    """One source of the mixture: a token-shard directory (or a glob of them) written by data_pipeline.tokenize.

    Give at most one of `weight` and `target_fraction`:
      * `target_fraction`: the exact fraction of training samples (= tokens, every sample has seq_len tokens)
        drawn from this source, e.g. zh 0.6 / en 0.4.
      * `weight`: an up/down-sampling factor on the source's natural size; the sources given by weight share
        whatever fraction the target-fraction sources leave, in proportion to ``weight * tokens``.
    Neither means ``weight = 1`` (natural proportion).
    """

    name: str = ""
    path: str = ""
    weight: Optional[float] = None  # noqa: UP045
    target_fraction: Optional[float] = None  # noqa: UP045


@dataclass
class DataConfig:
    sources: List[SourceConfig] = field(default_factory=list)  # noqa: UP006
    # The SentencePiece model the shards were made with; copied into every checkpoint so generation, export
    # and evaluation need nothing else.
    tokenizer: str = ""
    seed: int = 1234
    # Attention never crosses a document boundary and positions restart per document (the model reads doc_ids).
    document_masking: bool = False
    # Fraction of each source's documents held out for validation: those whose seeded hash of the document index
    # falls below it (about this fraction; at least one of each kind when the source has two or more documents).
    validation_fraction: float = 0.01
    # Samples are drawn from the mixture in blocks of this many global samples; inside a block the order of
    # sources is a seeded shuffle with exact per-source counts, so fractions hold to within one sample per block.
    mixture_block_size: int = 4096
    # Windows of one source are shuffled inside blocks of this many, so neighbouring samples rarely come from
    # the same long document (documents themselves are shuffled every epoch).
    window_shuffle_block: int = 1024
    # Where each source's document index (built once, read by every rank; docs/data_loader.md) lives:
    # "" = a _loader_index folder inside the source's first shard directory. Set it when that is read-only; it
    # should be shared by the ranks of a node (node-local disk or a shared filesystem).
    index_cache_dir: str = ""
