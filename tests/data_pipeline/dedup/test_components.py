"""Document dedup clusters from on-disk connected components (bounded memory) equal the single-process
union-find they replaced: same clusters, same kept member, same duplicate_of."""

import json
from pathlib import Path

import numpy as np
import pytest

from data_pipeline.dedup.bucket_store import local_collisions, shard_dir
from data_pipeline.dedup.clusters import UnionFind
from data_pipeline.dedup.components import DiskComponents
from data_pipeline.dedup.config import MinHashDedupConfig
from data_pipeline.dedup.exact import ExactDedupStage
from data_pipeline.dedup.minhash import MinHashDedupStage
from data_pipeline.dedup.near_duplicates import with_near_duplicates
from data_pipeline.stage import ShardInfo


def union_find_clusters(n: int, a: np.ndarray, b: np.ndarray) -> list[list[int]]:
    uf = UnionFind(n)
    for x, y in zip(a.tolist(), b.tolist()):
        uf.union(x, y)
    roots = uf.roots()
    clusters: dict[int, list[int]] = {}
    for row in np.flatnonzero(np.bincount(roots, minlength=n)[roots] > 1).tolist():
        clusters.setdefault(int(roots[row]), []).append(row)
    return [sorted(rows) for _, rows in sorted(clusters.items())]


@pytest.mark.parametrize("memory", [4096, 1 << 20])  # 4096 B: ~30 node partitions, reads of 32 pairs
@pytest.mark.parametrize("seed", range(4))
def test_disk_components_equal_union_find(tmp_path, memory, seed):
    rng = np.random.default_rng(seed)
    n = 700
    if seed == 0:  # one long path in random node order: the worst case for label propagation
        perm = rng.permutation(n)
        a, b = perm[:-1], perm[1:]
    else:
        a, b = rng.integers(0, n, n // seed), rng.integers(0, n, n // seed)
    graph = DiskComponents(tmp_path / "cc", n, memory)
    for k in range(0, len(a), 5):
        graph.add(a[k:k + 5], b[k:k + 5])
    got = [rows for batch in graph.clusters() for rows in batch]
    assert got == union_find_clusters(n, a, b)
    assert graph.rounds <= 20  # hooking + pointer jumping: logarithmic, not one hop per round
    assert not (tmp_path / "cc").exists()


def old_union_find_removals(stage, root: Path, num_shards: int) -> None:
    """What fit did before: union-find over every record in RAM, skipping pairs already in one cluster."""
    docs = [np.load(shard_dir(root, s) / "docs.npy", mmap_mode="r") for s in range(num_shards)]
    offsets = np.cumsum([0] + [len(d) for d in docs])
    clusters = UnionFind(int(offsets[-1]))
    for _band, group in local_collisions(root, offsets, stage.num_bands, stage.merge_memory_bytes):
        leaders: list[int] = []
        for row in (int(r) for r in group):
            for leader in leaders:
                if clusters.find(row) == clusters.find(leader):
                    break
                if stage.same_cluster(leader, row, root, offsets):
                    clusters.union(leader, row)
                    break
            else:
                leaders.append(row)
    a = np.arange(len(clusters.parent))
    roots = clusters.roots()
    stage._write_removals(root, docs, offsets, iter([union_find_clusters(len(a), a, roots)]))


def removal_files(root: Path, num_shards: int) -> list:
    return [(json.loads((shard_dir(root, s) / "removals.json").read_text()),
             json.loads((shard_dir(root, s) / "cluster-sizes.json").read_text())) for s in range(num_shards)]


def generated(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(3000)]
    records = [{"id": f"d{i:05d}", "text": " ".join(rng.choice(words, 60)),
                "meta": {"lang": "en", "quality_score": float(rng.choice([0.2, 0.5, 0.9]))}} for i in range(n)]
    copies = [{**records[int(i)], "id": f"c{k:05d}"} for k, i in enumerate(rng.integers(0, n, n // 10))]
    return with_near_duplicates(records[: n // 5], 2, seed=seed) + records[n // 5:] + copies


@pytest.mark.parametrize("make_stage", [lambda: ExactDedupStage(merge_memory_mb=1),
                                        lambda: MinHashDedupStage(MinHashDedupConfig(), merge_memory_mb=1)],
                         ids=["exact", "minhash"])
@pytest.mark.parametrize("num_shards", [1, 3])
@pytest.mark.parametrize("data", ["generated", "corpus"])
def test_fit_removes_what_union_find_removed(tmp_path, make_stage, num_shards, data, request):
    if data == "corpus":
        records = with_near_duplicates(request.getfixturevalue("corpus_records"), 1, seed=3)
    else:
        records = generated(1500, seed=num_shards)
    shards = [records[i::num_shards] for i in range(num_shards)]
    stage = make_stage()
    for index, shard in enumerate(shards):
        stage.observe(iter(shard), ShardInfo(index, num_shards, f"s{index}"), tmp_path)
    root = tmp_path / stage.name
    stage.fit(tmp_path, num_shards)
    new = removal_files(root, num_shards)
    old_union_find_removals(stage, root, num_shards)
    assert new == removal_files(root, num_shards)
    assert sum(len(removals) for removals, _ in new) == stage.summary["removed"] > 0
