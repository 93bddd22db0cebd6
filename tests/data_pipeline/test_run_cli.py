"""`python -m data_pipeline.run`: end to end on small files, and one-line errors with exit 2."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_pipeline.config import compose_pipeline_config
from data_pipeline.errors import UserError
from data_pipeline.run import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "data_pipeline.run", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)


def test_end_to_end_jsonl_and_gz(tmp_path, write_lines, clean_records):
    a = write_lines("a.jsonl", [*clean_records[:3], clean_records[0], "{oops", {"id": "short", "text": "太短"}])
    b = tmp_path / "b.jsonl.gz"
    b.write_bytes(gzip.compress("\n".join(json.dumps(r, ensure_ascii=False) for r in clean_records[3:]).encode()))
    out = tmp_path / "out"
    assert main([f"input.paths=[{a},{b}]", f"output.dir={out}", "executor.workers=1",
                 "executor.progress=false"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"]["docs_read"] == 9
    assert stats["totals"]["docs_kept"] == 6
    assert stats["stages"]["read"]["rules"]["invalid_json"]["docs"] == 1
    assert stats["stages"]["length"]["rules"]["too_short"]["docs"] == 1
    assert stats["stages"]["exact_dedup"]["docs_rejected"] == 1
    for name, s in stats["stages"].items():
        assert s["docs_in"] == s["docs_kept"] + s["docs_rejected"], name
    kept = [json.loads(line) for p in sorted((out / "kept").glob("*.jsonl.gz")) for line in gzip.open(p, "rt")]
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in clean_records)
    assert all(r["meta"]["lang"] in ("zh", "en") for r in kept)
    rejected = [json.loads(line) for p in (out / "rejected").glob("*.gz") for line in gzip.open(p, "rt")]
    assert {r["reject_reason"].split(":")[0] for r in rejected} == {"read", "length", "exact_dedup"}
    assert (out / "report.md").read_text().count("| length |") == 1
    assert (out / "report" / "chars_histogram.png").stat().st_size > 1000


@pytest.mark.parametrize("args, message", [
    (["input.paths=[/no/such/file.jsonl]", "output.dir=/tmp/x"], "does not exist"),
    (["input.paths=[/tmp/definitely-empty-dir-*/x*.jsonl]", "output.dir=/tmp/x"], "matches no file"),
    (["input.pathz=[a.jsonl]", "output.dir=/tmp/x"], "pathz"),
    (["input.paths=[a.jsonl]", "output.dir=/tmp/x", "executor.workers=many"], "executor.workers"),
    (["input.paths=[a.jsonl]", "output.dir=/tmp/x", "executor.kind=spark"], "executor.kind"),
    (["input.paths=[a.jsonl]"], "output.dir"),
])
def test_user_errors_are_one_line_exit_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr


def test_config_errors_name_the_key():
    with pytest.raises(UserError, match="min_units"):
        compose_pipeline_config(["output.dir=x", "filters.zh.length.min_units=lots"])
    with pytest.raises(UserError, match="threshold_zh"):
        compose_pipeline_config(["output.dir=x", "quality.threshold_zh=2.0"])
