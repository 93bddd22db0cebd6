"""Document dedup clusters from on-disk connected components (bounded memory) equal the single-process
union-find they replaced: same clusters, same kept member, same duplicate_of."""

import json
from pathlib import Path

import numpy as np
import pytest

from data_pipeline.dedup.bucket_store import local_collisions, locate, shard_dir
from data_pipeline.dedup.clusters import UnionFind, rank_key
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


def old_union_find_removals(stage, root: Path, num_shards: int) -> list:
    """What fit decided before, in one process: union-find over every record in RAM (skipping pairs already in
    one cluster), then every cluster ranked and split in root order; returns per shard (removals, sizes) as
    the files hold them."""
    docs = [np.load(shard_dir(root, s) / "docs.npy") for s in range(num_shards)]
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
    ids = [json.loads(line) for s in range(num_shards) for line in open(shard_dir(root, s) / "ids.jsonl")]
    stats = np.concatenate(docs)
    removals: list[dict] = [{} for _ in range(num_shards)]
    kept_sizes: dict[int, int] = {}
    for rows in union_find_clusters(len(a), a, clusters.roots()):
        ranked = sorted(rows, key=lambda row: rank_key(stats[row], ids[row]))
        for row, kept in stage._split_cluster(ranked, root, offsets):
            shard, local = locate(offsets, row)
            removals[shard][str(local)] = [ids[row], ids[kept]]
            kept_sizes[kept] = kept_sizes.get(kept, int(stats[kept]["cluster_size"])) + int(stats[row]["cluster_size"])
    stage.release()
    sizes: list[dict] = [{} for _ in range(num_shards)]
    for row, size in kept_sizes.items():
        shard, local = locate(offsets, row)
        sizes[shard][str(local)] = [ids[row], size]
    return list(zip(removals, sizes))


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
    old = old_union_find_removals(stage, root, num_shards)
    assert [json.dumps(pair) for pair in new] == [json.dumps(pair) for pair in old]  # same entries, same order
    assert sum(len(removals) for removals, _ in new) == stage.summary["removed"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("tasks", ["processes", "ray"])
def test_fit_passes_as_tasks_remove_what_union_find_removed(tmp_path, tasks):
    """Every pass of fit as tasks on 2 worker processes or on Ray, with memory small enough for several key
    ranges per band and several node partitions: the same files as the single-process union-find."""
    from data_pipeline.executors.ray import ray_available
    from data_pipeline.executors.task_pool import process_task_map

    records = generated(1500, seed=5)
    shards = [records[i::3] for i in range(3)]
    stage = MinHashDedupStage(MinHashDedupConfig())
    stage.merge_memory_bytes = 16384  # 3 key ranges per band, 4 node partitions of 512
    for index, shard in enumerate(shards):
        stage.observe(iter(shard), ShardInfo(index, 3, f"s{index}"), tmp_path)
    if tasks == "ray":
        if not ray_available():
            pytest.skip("ray is an optional extra")
        import ray

        from data_pipeline.executors.ray import ray_task_map

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            stage.fit(tmp_path, 3, map_tasks=ray_task_map(2))
        finally:
            ray.shutdown()
    else:
        with process_task_map(2) as map_tasks:
            stage.fit(tmp_path, 3, map_tasks=map_tasks)
    root = tmp_path / stage.name
    new = removal_files(root, 3)
    old = old_union_find_removals(stage, root, 3)
    assert [json.dumps(pair) for pair in new] == [json.dumps(pair) for pair in old]
    assert stage.summary["removed"] == sum(len(r) for r, _ in new) > 100
    assert not (root / "components").exists() and not (root / "removal-parts").exists()
