"""`python -m data_pipeline.run`: end to end on small files, and one-line errors with exit 2."""

import gzip
import json
import os
import subprocess
import sys
import time
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
    a = write_lines("a.jsonl", [*clean_records[:3], clean_records[0], "{oops", {"id": "short", "text": "这段文字太短了。"}])
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


def test_every_bad_input_is_accounted_and_the_run_exits_0(tmp_path, write_lines, clean_records):
    bad_lines = write_lines("bad.jsonl", [
        clean_records[0], "{broken", b"\xff\xfe\xfd", b'{"id": "nul", "text": "x\x00y"}', {"id": "a", "title": "t"},
        {"id": "b", "text": ["not", "a", "string"]}, {"id": "c", "text": ""}, {"id": "d", "text": "y" * 5000},
    ])
    full = gzip.compress("\n".join(json.dumps(r, ensure_ascii=False) for r in clean_records * 40).encode())
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(full[: len(full) // 2])
    not_gzip = tmp_path / "liar.jsonl.gz"
    not_gzip.write_bytes(b"not gzip at all")
    out = tmp_path / "out"
    assert main([f"input.paths=[{bad_lines},{truncated},{not_gzip}]", f"output.dir={out}", "input.max_chars=4000",
                 "executor.workers=1", "executor.progress=false"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    read_rules = {rule: slot["docs"] for rule, slot in stats["stages"]["read"]["rules"].items()}
    assert read_rules == {"invalid_json": 1, "invalid_text": 1, "nul_bytes": 1, "missing_text": 1,
                          "text_not_string": 1, "empty_text": 1, "too_long": 1, "truncated_file": 1}
    assert [e["source"] for e in stats["errors"]] == [str(not_gzip)]
    totals = stats["totals"]
    assert totals["docs_read"] == totals["docs_kept"] + totals["docs_rejected"]
    rejected = [json.loads(line) for p in (out / "rejected").glob("*.gz") for line in gzip.open(p, "rt")]
    assert len(rejected) == totals["docs_rejected"] and all(r["id"] for r in rejected)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_bytes(tmp_path, write_lines, clean_records):
    """SIGKILL a real pipeline process mid-run, rerun it, and compare with an uninterrupted run."""
    inputs = [str(write_lines(f"in{i}.jsonl", [{**r, "id": f"{i}-{r['id']}"} for r in clean_records] * 30))
              for i in range(6)]
    args = [f"input.paths=[{','.join(inputs)}]", "executor.workers=1", "executor.progress=false",
            "report.enabled=false"]
    assert run_cli(*args, f"output.dir={tmp_path / 'ref'}").returncode == 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "data_pipeline.run", *args, f"output.dir={tmp_path / 'out'}"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_marker = tmp_path / "out" / "_work" / "seg0" / "00000.done.json"
    while proc.poll() is None and not first_marker.exists():
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert first_marker.exists() and not (tmp_path / "out" / "stats.json").exists()  # killed mid-run
    assert run_cli(*args, f"output.dir={tmp_path / 'out'}").returncode == 0

    def outputs(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and "_work" not in p.parts}

    assert outputs(tmp_path / "out") == outputs(tmp_path / "ref")


def test_rerun_with_another_config_is_refused(tmp_path, write_lines, clean_records):
    path = write_lines("a.jsonl", clean_records)
    args = [f"input.paths=[{path}]", f"output.dir={tmp_path / 'out'}", "executor.workers=1",
            "executor.progress=false", "report.enabled=false"]
    assert main(args) == 0
    assert main([*args, "executor.workers=2"]) == 0  # how it runs is free to change
    result = run_cli(*args, "filters.en.length.min_units=500")
    assert result.returncode == 2 and "different configuration" in result.stderr


def test_a_lone_surrogate_is_rejected_and_the_good_record_kept(tmp_path):
    """Issue 12 A: this input crashed the writer (UnicodeEncodeError), lost `b` and left no stats.json."""
    source = tmp_path / "s.jsonl"
    source.write_text(
        '{"id":"a","text":"hello \\ud800 world, this is a long enough english sentence to pass the filters maybe."}\n'
        '{"id":"b","text":"这是一个正常的中文句子，用来测试管道是否能够处理坏的输入而不会崩溃。"}\n', encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(f"input.paths=[{source}]", f"output.dir={out}", "executor.progress=false")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    kept = [json.loads(line) for line in gzip.open(out / "kept" / "00000.jsonl.gz", "rt", encoding="utf-8")]
    rejected = [json.loads(line) for path in (out / "rejected").glob("*.jsonl.gz")
                for line in gzip.open(path, "rt", encoding="utf-8")]
    assert [r["id"] for r in kept] == ["b"]
    assert [(r["id"], r["reject_reason"]) for r in rejected] == [("a", "read:invalid_text")]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"]["read"]["rules"]["invalid_text"]["docs"] == 1
