"""The local executor: accounting invariants, routing, CorpusStage protocol, parallel = sequential, resume."""

import json
from pathlib import Path

import pytest

from data_pipeline.executors.local import run_pipeline
from data_pipeline.formats.jsonl import read_jsonl
from data_pipeline.readers import InputConfig, discover_sources
from data_pipeline.stage import CorpusStage, Stage, reject


class RejectShort(Stage):
    name = "short"

    def __init__(self, min_chars: int = 5):
        self.min_chars = min_chars

    def run(self, records, shard):
        for record in records:
            yield reject(record, self.name, "too_short") if len(record["text"]) < self.min_chars else record


class Uppercase(Stage):
    """Changes text: chars_kept shrinks/grows independently of the doc counts."""

    name = "upper"

    def run(self, records, shard):
        for record in records:
            record["text"] = record["text"].upper()
            yield record


class DropsOne(Stage):
    name = "lossy"

    def run(self, records, shard):
        for i, record in enumerate(records):
            if i != 0:
                yield record


class CrashOnce(Stage):
    """Raises on shard `crash_shard` after some records while `armed` (simulates a killed worker)."""

    name = "crash"

    def __init__(self, crash_shard: str):
        self.crash_shard = crash_shard
        self.armed = True
        self.shards_run: list[str] = []

    def run(self, records, shard):
        self.shards_run.append(shard.name)
        for i, record in enumerate(records):
            if self.armed and shard.name == self.crash_shard and i == 2:
                raise RuntimeError("simulated crash")
            yield record


class ExactTextDedup(CorpusStage):
    """A tiny CorpusStage: observe writes each shard's texts, fit picks the first shard/position of each."""

    name = "dedup"

    def observe(self, records, shard, workdir):
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / f"{shard.name}.json").write_text(json.dumps([[r["id"], r["text"]] for r in records]))

    def fit(self, workdir, num_shards):
        first: dict[str, str] = {}
        for path in sorted(workdir.glob("*.json")):
            for record_id, text in json.loads(path.read_text()):
                first.setdefault(text, record_id)
        self.keep = set(first.values())

    def run(self, records, shard):
        for record in records:
            yield record if record["id"] in self.keep else reject(record, self.name, "duplicate")


def make_inputs(write_lines, shards: int = 3, per_shard: int = 8) -> list:
    paths = []
    for s in range(shards):
        lines = [{"id": f"s{s}-{i}", "text": ("dup text" if i % 4 == 0 else f"doc {s} {i} " + "x" * i)}
                 for i in range(per_shard)]
        lines.append("{broken json")
        lines.append({"id": f"s{s}-tiny", "text": "abc"})
        paths.append(str(write_lines(f"in{s}.jsonl", lines)))
    return discover_sources(InputConfig(paths=paths))


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
            and not p.relative_to(path).as_posix().startswith("_work")}


def test_accounting_routing_and_corpus_stage(write_lines, tmp_path):
    sources = make_inputs(write_lines)
    stats = run_pipeline([RejectShort(), Uppercase(), ExactTextDedup()], sources, tmp_path / "out", workers=1,
                         progress=False)
    for name, s in stats["stages"].items():
        assert s["docs_in"] == s["docs_kept"] + s["docs_rejected"], name
        assert s["docs_rejected"] == sum(rule["docs"] for rule in s["rules"].values())
    assert stats["stages"]["read"]["rules"] == {"invalid_json": {"docs": 3, "chars": 0}}
    assert stats["stages"]["short"]["rules"]["too_short"]["docs"] == 3
    # "dup text" appears twice per shard in 3 shards: one kept overall, five duplicates
    assert stats["stages"]["dedup"]["rules"]["duplicate"]["docs"] == 5
    assert stats["totals"] == {"docs_read": 30, "docs_kept": 19, "docs_rejected": 11,
                               "chars_kept": stats["stages"]["dedup"]["chars_kept"]}
    out = tmp_path / "out"
    kept = [r for p in sorted((out / "kept").glob("*.gz")) for r in read_jsonl(p)]
    assert len(kept) == 19 and all(r["text"] == r["text"].upper() for r in kept)
    rejected = [r for p in sorted((out / "rejected").glob("*.gz")) for r in read_jsonl(p)]
    assert len(rejected) == 11 and all(r["id"] and ":" in r["reject_reason"] for r in rejected)
    assert sorted({r["reject_reason"] for r in rejected}) == ["dedup:duplicate", "read:invalid_json",
                                                               "short:too_short"]
    assert json.loads((out / "stats.json").read_text()) == stats


def test_stage_that_loses_a_record_is_a_bug(write_lines, tmp_path):
    with pytest.raises(AssertionError, match="must yield every record"):
        run_pipeline([DropsOne()], make_inputs(write_lines, shards=1), tmp_path / "out", workers=1, progress=False)


def test_unreadable_input_is_an_error_entry_not_a_crash(write_lines, tmp_path):
    good = write_lines("good.jsonl", [{"text": "hello world"}])
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"this is not gzip data at all")
    sources = discover_sources(InputConfig(paths=[str(good), str(bad)]))
    stats = run_pipeline([RejectShort()], sources, tmp_path / "out", workers=1, progress=False)
    assert stats["totals"]["docs_kept"] == 1
    assert [e["source"] for e in stats["errors"]] == [str(bad)]


@pytest.mark.slow
def test_parallel_run_equals_sequential_run(write_lines, tmp_path):
    sources = make_inputs(write_lines, shards=4)
    stages = [RejectShort(), Uppercase(), ExactTextDedup()]
    one = run_pipeline(stages, sources, tmp_path / "one", workers=1, progress=False)
    two = run_pipeline([RejectShort(), Uppercase(), ExactTextDedup()], sources, tmp_path / "two", workers=2,
                       progress=False)
    assert one == two
    assert read_dir(tmp_path / "one") == read_dir(tmp_path / "two")


def test_interrupted_run_resumes_to_identical_output(write_lines, tmp_path):
    sources = make_inputs(write_lines, shards=3)
    reference = run_pipeline([RejectShort(), ExactTextDedup(), CrashOnce("none")], sources, tmp_path / "ref",
                             workers=1, progress=False)
    crash = CrashOnce("00001")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_pipeline([RejectShort(), ExactTextDedup(), crash], sources, tmp_path / "out", workers=1,
                     progress=False)
    # the crashed shard left no output file and no marker; the finished shard is marked done
    assert not (tmp_path / "out" / "kept" / "00001.jsonl.gz").exists()
    assert (tmp_path / "out" / "_work" / "seg1" / "00000.done.json").exists()
    assert not [p for p in (tmp_path / "out").rglob("*") if ".tmp-" in p.name]
    crash.armed, crash.shards_run = False, []
    resumed = run_pipeline([RejectShort(), ExactTextDedup(), crash], sources, tmp_path / "out", workers=1,
                           progress=False)
    assert crash.shards_run == ["00001", "00002"]  # shard 00000 was not redone
    assert resumed == reference
    assert read_dir(tmp_path / "out") == read_dir(tmp_path / "ref")
    # a third run on a finished output does no work and changes nothing
    crash.shards_run = []
    assert run_pipeline([RejectShort(), ExactTextDedup(), crash], sources, tmp_path / "out", workers=1,
                        progress=False) == reference
    assert crash.shards_run == []
