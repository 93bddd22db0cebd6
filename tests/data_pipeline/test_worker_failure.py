"""A bug in a worker (not bad input): the error names the input file, stage and record; finished shards keep
their markers; the rerun redoes only the failed shard and ends with the bytes of an uninterrupted run."""

from pathlib import Path

import pytest

from data_pipeline.errors import ShardFailedError
from data_pipeline.executors.local import run_pipeline
from data_pipeline.normalize import NormalizeStage
from data_pipeline.normalize.stage import NormalizeConfig
from data_pipeline.readers import InputConfig, discover_sources
from data_pipeline.stage import Stage


class RaisesOnId(Stage):
    """Test-only fault injection: raises a plain bug (KeyError) when it meets `record_id` while armed."""

    name = "raises_on_id"

    def __init__(self, record_id: str):
        self.record_id = record_id
        self.armed = True

    def run(self, records, shard):
        for record in records:
            if self.armed and record["id"] == self.record_id:
                raise KeyError(f"injected bug on {record['id']}")
            yield record


def make_sources(write_lines) -> list:
    paths = [str(write_lines(f"part{s}.jsonl", [{"id": f"p{s}-{i}", "text": f"document {i} of part {s}"}
                                                  for i in range(6)])) for s in range(3)]
    return discover_sources(InputConfig(paths=paths))


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.jsonl.gz"))
            if not p.relative_to(out).as_posix().startswith("_work")}


@pytest.mark.parametrize("workers", [1, 2])
def test_failure_names_file_stage_and_record_and_the_rerun_resumes(write_lines, tmp_path, workers):
    sources = make_sources(write_lines)
    reference = run_pipeline([NormalizeStage(NormalizeConfig()), RaisesOnId("none")], sources, tmp_path / "ref",
                             workers=1, progress=False)
    faulty = RaisesOnId("p1-3")
    out = tmp_path / "out"
    with pytest.raises(ShardFailedError) as failure:
        run_pipeline([NormalizeStage(NormalizeConfig()), faulty], sources, out, workers=workers, progress=False)
    message = str(failure.value)
    assert sources[1].location in message and "p1-3" in message and "raises_on_id" in message
    assert "its record 4" in message and "injected bug on p1-3" in message

    markers = sorted(p.name for p in (out / "_work" / "seg0").glob("*.done.json"))
    finished = ["00000.done.json"] if workers == 1 else ["00000.done.json", "00002.done.json"]
    assert markers == finished  # in a pool, the shards beside the failed one still finish
    assert not (out / "kept" / "00001.jsonl.gz").exists()
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    before = {name: (out / "_work" / "seg0" / name).stat().st_mtime_ns for name in finished}

    faulty.armed = False
    resumed = run_pipeline([NormalizeStage(NormalizeConfig()), faulty], sources, out, workers=workers,
                           progress=False)
    assert {name: (out / "_work" / "seg0" / name).stat().st_mtime_ns for name in finished} == before
    assert resumed == reference
    assert outputs(out) == outputs(tmp_path / "ref")


def test_a_reader_bug_names_the_record_read_last(write_lines, tmp_path, monkeypatch):
    sources = make_sources(write_lines)[:1]

    def broken_read(self):
        yield {"id": "p0-0", "text": "first"}
        raise ValueError("reader bug")

    monkeypatch.setattr(type(sources[0]), "read", broken_read)
    with pytest.raises(ShardFailedError, match=r"reading failed after record 1 \(id 'p0-0'\): ValueError"):
        run_pipeline([NormalizeStage(NormalizeConfig())], sources, tmp_path / "out", workers=1, progress=False)
