"""Document MinHash dedup throughput (docs/s on one core) and recall: ours vs datatrove, datasketch, rensa.

    .venv-bench/bin/python bench/bench_dedup.py [--variants 2] [--bands 16 --rows 8] [--repeat 3]

Same corpus for every tool: ../shared/data/corpus (real zh + en) plus `--variants` generated near-duplicates
per document (data_pipeline.dedup.near_duplicates). Same permutation count and bands x rows everywhere;
threshold 0.8. Each tool runs its full dedup (signatures -> LSH buckets -> clusters -> removals) in this
process, one at a time (`--repeat` times each; the median run is reported). Speed is docs per CPU-second of this process (= per core for these single-threaded
tools, and robust to other load on a shared machine); wall-clock docs/s is printed beside it. Truth: pairs with exact Jaccard >= 0.8 on our shingles (char 5-grams zh, word
5-grams en); recall = share of true pairs of which the tool removed at least one side; precision = share of
removed documents that have a true partner. datasketch and rensa get our shingle strings (so they are timed on
hashing + MinHash + LSH); datatrove tokenizes with its own per-language word tokenizers (spaCy), as its users do.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_pipeline.dedup.clusters import UnionFind  # noqa: E402
from data_pipeline.dedup.config import MinHashDedupConfig  # noqa: E402
from data_pipeline.dedup.minhash import MinHashDedupStage  # noqa: E402
from data_pipeline.dedup.near_duplicates import with_near_duplicates  # noqa: E402
from data_pipeline.dedup.precision_recall import pairwise_jaccard  # noqa: E402
from data_pipeline.dedup.text import ngram_size, shingle_language, shingle_tokens  # noqa: E402
from data_pipeline.stage import ShardInfo  # noqa: E402

CORPUS = REPO / ".." / "shared" / "data" / "corpus"
THRESHOLD = 0.8


def load(variants: int) -> list[dict]:
    records = [json.loads(line) for path in sorted(CORPUS.glob("*.jsonl")) for line in path.open(encoding="utf-8")]
    records = with_near_duplicates(records, variants, seed=0)
    for record in records:
        record["lang"] = shingle_language(shingle_tokens(record["text"]), None)
    return records


def shingle_strings(text: str) -> list[str]:
    tokens = shingle_tokens(text)
    n = min(ngram_size(tokens, None, 5, 5), len(tokens))
    return list({" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}) if n else []


def removals_from_pairs(n: int, pairs) -> set[int]:
    clusters = UnionFind(n)
    for a, b in pairs:
        clusters.union(a, b)
    roots = clusters.roots()
    return {i for i in range(n) if roots[i] != i}


def run_ours(records, bands, rows, verify=True) -> set[int]:
    stage = MinHashDedupStage(MinHashDedupConfig(bands=bands, rows=rows, num_perm=bands * rows, verify=verify))
    shard = ShardInfo(0, 1, "bench")
    with tempfile.TemporaryDirectory() as workdir:
        stage.observe(iter(records), shard, Path(workdir))
        stage.fit(Path(workdir), 1)
        return {i for i, r in enumerate(stage.run(iter(records), shard)) if "reject_reason" in r}


def run_datasketch(records, bands, rows, batch=True) -> set[int]:
    """batch=False is the per-shingle `update` loop of datasketch's README; True its vectorised update_batch."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(num_perm=bands * rows, params=(bands, rows))
    sketches = []
    for i, record in enumerate(records):
        sketch = MinHash(num_perm=bands * rows, seed=1)
        if batch:
            sketch.update_batch([s.encode() for s in shingle_strings(record["text"])])
        else:
            for shingle in shingle_strings(record["text"]):
                sketch.update(shingle.encode())
        lsh.insert(i, sketch)
        sketches.append(sketch)
    return removals_from_pairs(len(records), ((i, j) for i, s in enumerate(sketches) for j in lsh.query(s) if j != i))


def run_rensa(records, bands, rows) -> set[int]:
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(THRESHOLD, bands * rows, bands)
    sketches = []
    for i, record in enumerate(records):
        sketch = RMinHash(bands * rows, 1)
        sketch.update(shingle_strings(record["text"]))
        lsh.insert(i, sketch)
        sketches.append(sketch)
    return removals_from_pairs(len(records), ((i, j) for i, s in enumerate(sketches) for j in lsh.query(s) if j != i))


def run_datatrove(records, bands, rows) -> set[int]:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.utils.hashing import HashConfig

    config = MinhashConfig(n_grams=5, num_buckets=bands, hashes_per_bucket=rows, hash_config=HashConfig(precision=64))
    ranks = {"zh": [i for i, r in enumerate(records) if r["lang"] == "zh"],
             "en": [i for i, r in enumerate(records) if r["lang"] == "en"]}
    with tempfile.TemporaryDirectory() as tmp:
        sigs, buckets, remove = f"{tmp}/sigs", f"{tmp}/buckets", f"{tmp}/remove"
        for rank, (lang, rows_of_rank) in enumerate(ranks.items()):
            docs = (Document(text=records[i]["text"], id=str(i)) for i in rows_of_rank)
            MinhashDedupSignature(sigs, config=config, language=lang).run(docs, rank=rank, world_size=len(ranks))
        for bucket in range(bands):
            MinhashDedupBuckets(sigs, buckets, config=config).run(rank=bucket, world_size=bands)
        MinhashDedupCluster(buckets, remove, config=config).run()
        removed = set()
        for rank, rows_of_rank in enumerate(ranks.values()):
            docs = [Document(text=records[i]["text"], id=str(i)) for i in rows_of_rank]
            kept = {int(d.id) for d in MinhashDedupFilter(remove).run(iter(docs), rank=rank, world_size=len(ranks))}
            removed |= set(rows_of_rank) - kept
        return removed


def score(records, removed: set[int], truth: set[tuple[int, int]], has_partner: set[int]) -> dict:
    out = {}
    for lang in ("zh", "en"):
        pairs = [(a, b) for a, b in truth if records[a]["lang"] == lang]
        mine = [i for i in removed if records[i]["lang"] == lang]
        out[lang] = {
            "recall": round(sum(a in removed or b in removed for a, b in pairs) / max(1, len(pairs)), 4),
            "precision": round(sum(i in has_partner for i in mine) / max(1, len(mine)), 4),
            "removed": len(mine),
        }
    return out


def generated_shard(shard: int, docs: int, words: int, seed: int):
    """`docs` synthetic documents of `words` words from a 20k-word vocabulary; every 10th is a near-duplicate
    (1% of words replaced) of the one before it, so the LSH index holds real collisions."""
    rng = np.random.default_rng([seed, shard])
    vocabulary = np.array([f"w{i}" for i in range(20_000)])
    previous = None
    for row in range(docs):
        if previous is not None and row % 10 == 9:
            tokens = previous.copy()
            edits = rng.random(words) < 0.01
            tokens[edits] = rng.integers(0, len(vocabulary), int(edits.sum()))
        else:
            tokens = rng.integers(0, len(vocabulary), words)
        previous = tokens
        yield {"id": f"{shard}-{row}", "text": " ".join(vocabulary[tokens]), "meta": {"lang": "en"}}


def measure_memory(total_docs: int, shard_docs: int, words: int) -> None:
    """Peak RSS of observe -> fit -> run over generated shards, streamed: nothing holds the corpus."""
    import resource

    stage = MinHashDedupStage(MinHashDedupConfig(bands=16, rows=8, num_perm=128))
    shards = [ShardInfo(i, -(-total_docs // shard_docs), f"{i:05d}") for i in range(-(-total_docs // shard_docs))]
    sizes = [min(shard_docs, total_docs - i * shard_docs) for i in range(len(shards))]
    with tempfile.TemporaryDirectory(dir=str(REPO / "..")) as workdir:
        start = time.perf_counter()
        for shard, size in zip(shards, sizes):
            stage.observe(generated_shard(shard.index, size, words, 0), shard, Path(workdir))
        observed = time.perf_counter()
        stage.fit(Path(workdir), len(shards))
        fitted = time.perf_counter()
        removed = sum("reject_reason" in r for shard, size in zip(shards, sizes)
                      for r in stage.run(generated_shard(shard.index, size, words, 0), shard))
        disk = sum(p.stat().st_size for p in Path(workdir).rglob("*") if p.is_file())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{total_docs} docs x {words} words in {len(shards)} shards: peak RSS {peak_mib:.0f} MiB, "
          f"state on disk {disk / 2**20:.0f} MiB, removed {removed}; observe {observed - start:.0f} s, "
          f"fit {fitted - observed:.0f} s, run {time.perf_counter() - fitted:.0f} s")


def timed(fn) -> tuple[float, float, set[int]]:
    """(CPU seconds, wall seconds, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory-docs", type=int, default=0,
                        help="instead of the comparison: peak RSS of our stage on this many generated docs")
    parser.add_argument("--shard-docs", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=60)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--bands", type=int, default=16)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--skip", nargs="*", default=[], help="tools to leave out")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the median CPU time is reported")
    args = parser.parse_args()
    if args.memory_docs:
        measure_memory(args.memory_docs, args.shard_docs, args.words)
        return
    records = load(args.variants)
    from data_pipeline.dedup.hashing import ShingleHasher

    hasher = ShingleHasher(5, 5, seed=1)
    jaccard = pairwise_jaccard([hasher.shingles(r["text"]) for r in records])
    truth = {pair for pair, similarity in jaccard.items() if similarity >= THRESHOLD}
    has_partner = {i for pair in truth for i in pair}
    print(f"{len(records)} docs ({sum(r['lang'] == 'zh' for r in records)} zh), {len(truth)} true pairs, "
          f"{args.bands} bands x {args.rows} rows, threshold {THRESHOLD}")
    tools = {"ours": lambda: run_ours(records, args.bands, args.rows),
             "ours (verify off)": lambda: run_ours(records, args.bands, args.rows, verify=False),
             "datatrove": lambda: run_datatrove(records, args.bands, args.rows),
             "datasketch": lambda: run_datasketch(records, args.bands, args.rows),
             "datasketch (update)": lambda: run_datasketch(records, args.bands, args.rows, batch=False),
             "rensa": lambda: run_rensa(records, args.bands, args.rows)}
    results = {}
    for name, fn in tools.items():
        if name in args.skip:
            continue
        try:
            runs = [timed(fn) for _ in range(max(1, args.repeat))]
        except ImportError as err:
            print(f"{name:<20} not installed ({err})")
            continue
        cpu, wall, removed = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
        results[name] = {"docs_per_cpu_s": len(records) / cpu, "docs_per_wall_s": len(records) / wall,
                         **score(records, removed, truth, has_partner)}
        r = results[name]
        print(f"{name:<20} {r['docs_per_cpu_s']:>7.0f} docs/CPU-s ({r['docs_per_wall_s']:>5.0f} docs/wall-s)  "
              f"zh recall {r['zh']['recall']:.4f} precision {r['zh']['precision']:.4f}  "
              f"en recall {r['en']['recall']:.4f} precision {r['en']['precision']:.4f}")
    ours = results["ours"]["docs_per_cpu_s"]
    for name, r in results.items():
        if not name.startswith("ours"):
            print(f"ours / {name}: {ours / r['docs_per_cpu_s']:.2f}x per core")


if __name__ == "__main__":
    main()
