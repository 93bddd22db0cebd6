"""Parquet reader: rows in batches, each validated like any other input row."""

from __future__ import annotations

from collections.abc import Iterator

from data_pipeline.errors import UnreadableShardError
from data_pipeline.readers.validate import ReaderOptions, to_record

BATCH_ROWS = 2048


def read_parquet_records(path: str, options: ReaderOptions) -> Iterator[dict]:
    import pyarrow.parquet as pq  # lazy: ~0.4 s to import; only parquet inputs need it

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a non-parquet or damaged file
        raise UnreadableShardError(f"{path}: {err}") from None
    row_no = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            yield to_record(row, f"{path}:{row_no}", options)
            row_no += 1
