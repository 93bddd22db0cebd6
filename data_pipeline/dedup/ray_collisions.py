"""LSH band grouping on Ray Data: the distributed twin of bucket_store.local_collisions.

Every (band, shard) key file becomes rows (band, key, item); a hash groupby on (band, key) counts each
bucket across the cluster, only keys seen twice or more come back to the driver, a second map keeps just
those rows, and the driver sorts them by (band, key, item) — exactly the sequence the local merge yields,
so fit() makes the same unions in the same order and both executors keep the same records.
Band files must be on storage every Ray node can read (local disk for a local Ray; shared FS on a cluster).

A small index is merged on the driver instead (the same bounded key-range merge as the local executor, same
output): below SHUFFLE_MIN_ENTRIES (key, row) entries the three Ray Data jobs of the shuffle cost more (~3 s
each on a local Ray) than merging the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_pipeline.dedup.bucket_store import KEY_ITEM, band_file, local_collisions

SHUFFLE_MIN_ENTRIES = 20_000_000  # ~240 MB of band files; the driver merges 10 M entries in about a second


def _load_band_rows(batch: dict) -> dict:
    bands, keys, items = [], [], []
    for band, path, offset in zip(batch["band"], batch["path"], batch["offset"]):
        table = np.load(str(path))
        bands.append(np.full(len(table), int(band), dtype=np.int64))
        keys.append(table["key"])
        items.append(table["item"].astype(np.int64) + int(offset))
    return {"band": np.concatenate(bands), "key": np.concatenate(keys), "item": np.concatenate(items)}


def _buckets_of_two_or_more(batch: dict) -> dict:
    keep = batch["count()"] > 1
    return {"band": batch["band"][keep], "key": batch["key"][keep]}


def ray_collisions(root: Path, item_offsets: np.ndarray, num_bands: int,
                   memory_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
    import ray.data  # lazy: Ray is an optional, heavy dependency (executor.kind=ray only)

    files = [{"band": band, "path": str(band_file(root, shard, band)), "offset": int(item_offsets[shard])}
             for band in range(num_bands) for shard in range(len(item_offsets) - 1)
             if band_file(root, shard, band).exists()]
    if not files:
        return
    if sum(Path(f["path"]).stat().st_size for f in files) // KEY_ITEM.itemsize < SHUFFLE_MIN_ENTRIES:
        yield from local_collisions(root, item_offsets, num_bands, memory_bytes)
        return
    rows = ray.data.from_items(files).map_batches(_load_band_rows, batch_size=1, batch_format="numpy").materialize()
    counts = rows.groupby(["band", "key"]).count().map_batches(_buckets_of_two_or_more, batch_format="numpy") \
        .to_pandas()
    if counts.empty:
        return
    wanted: dict[int, np.ndarray] = {
        int(band): np.sort(group["key"].to_numpy(dtype=np.uint64)) for band, group in counts.groupby("band")}

    def keep_colliding(batch: dict) -> dict:
        keep = np.zeros(len(batch["key"]), dtype=bool)
        for band, keys in wanted.items():
            in_band = batch["band"] == band
            keep[in_band] = np.isin(batch["key"][in_band], keys)
        return {name: column[keep] for name, column in batch.items()}

    colliding = rows.map_batches(keep_colliding, batch_format="numpy").to_pandas()
    band = colliding["band"].to_numpy(dtype=np.int64)
    key = colliding["key"].to_numpy(dtype=np.uint64)
    item = colliding["item"].to_numpy(dtype=np.int64)
    order = np.lexsort((item, key, band))
    band, key, item = band[order], key[order], item[order]
    starts = np.flatnonzero(np.r_[True, (band[1:] != band[:-1]) | (key[1:] != key[:-1])])
    ends = np.r_[starts[1:], len(item)]
    for start, end in zip(starts, ends):
        yield int(band[start]), item[start:end]
