"""HF datasets: a dataset saved with `save_to_disk`, or one `load_dataset` can fetch by name or path.

`datasets` is imported here only, so the rest of the pipeline starts fast without it.
"""

from __future__ import annotations

from collections.abc import Iterator

from data_pipeline.errors import UnreadableShardError
from data_pipeline.readers.validate import ReaderOptions, to_record


def load_hf_dataset(location: str, split: str, from_disk: bool):
    """The dataset split at `location` (a `save_to_disk` folder when `from_disk`, else a `load_dataset` name)."""
    import datasets  # lazy: ~2 s to import; only HF dataset inputs need it

    try:
        if from_disk:
            loaded = datasets.load_from_disk(location)
        else:
            loaded = datasets.load_dataset(location, split=split)
    except Exception as err:  # datasets raises many types (FileNotFoundError, DatasetNotFoundError, ...)
        raise UnreadableShardError(f"{location}: {err}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise UnreadableShardError(f"{location}: no split {split!r} (has {sorted(loaded)})")
        loaded = loaded[split]
    return loaded


def read_hf_records(
    location: str, split: str, from_disk: bool, shard_index: int, shard_count: int, options: ReaderOptions
) -> Iterator[dict]:
    """Rows of one contiguous shard of the dataset; ids default to ``<location>:<row>`` (global row number)."""
    dataset = load_hf_dataset(location, split, from_disk)
    rows = len(dataset)
    start = rows * shard_index // shard_count
    stop = rows * (shard_index + 1) // shard_count
    for offset, row in enumerate(dataset.select(range(start, stop))):
        yield to_record(row, f"{location}:{start + offset}", options)
