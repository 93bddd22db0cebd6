"""Each real command line on the same hostile files, in a subprocess: exit 0 and no traceback. A few runs in
all (each starts an interpreter); the per-record cases are fuzzed in process by the other files here."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from tests.fuzz.hostile_input import CHINESE, ENGLISH, NASTY_CHARACTERS

REPO = Path(__file__).resolve().parents[2]

HOSTILE_LINES = [
    # issue 12's two lines: the first crashed the pipeline's writer
    b'{"id":"a","text":"hello \\ud800 world, this is a long enough english sentence to pass the filters maybe."}',
    '{"id":"b","text":"这是一个正常的中文句子，用来测试管道是否能够处理坏的输入而不会崩溃。"}'.encode(),
    b'{"id": "surrogate-key", "text": "fine text", "meta": {"\\udfff": 1}, "source": "web\\ud800"}',
    b'{"id": "raw-surrogate", "text": "\xed\xa0\x80 encoded by a careless writer"}',
    b"\xff\xfe not utf-8 at all",
    b'{"id": "nul", "text": "a\x00b"}',
    b'{"id": "escaped-nul", "text": "a\\u0000b and control \\u001b[31m and bidi \\u202e"}',
    b'{"id": 12345, "text": 42}',
    b'{"id": ["x"], "text": {"nested": ["object"]}}',
    b'{"text": null}',
    b'{"id": "no-text"}',
    b"[1, 2, 3]",
    b'"just a string"',
    b'{"id": "huge-int", "n": ' + b"9" * 5000 + b"}",
    b"[" * 50_000 + b"]" * 50_000,
    b'{"id": "cut-off", "text": "the line ends before',
    b"   ",
    json.dumps({"id": "multi-mb", "text": ENGLISH * 12_000}).encode(),  # 1.2 MB, over input.max_chars
    json.dumps({"id": "nasty", "text": ENGLISH + "".join(NASTY_CHARACTERS) + CHINESE}).encode(),
]


def good_lines(prefix: str, count: int) -> list[bytes]:
    words = (ENGLISH + CHINESE).split() + list(CHINESE)
    return [json.dumps({"id": f"{prefix}-{i}", "text": " ".join(words[i % len(words):] + words[: i % 7])
                        + f" {ENGLISH if i % 2 else CHINESE}"}, ensure_ascii=False).encode() for i in range(count)]


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    plain = b"\xef\xbb\xbf" + b"\r\n".join(HOSTILE_LINES + good_lines("plain", 80)) + b"\r\n"
    (folder / "plain.jsonl").write_bytes(plain)
    gz = gzip.compress(b"\n".join(good_lines("gz", 80) + HOSTILE_LINES) + b"\n", mtime=0)
    (folder / "cut-gzip.jsonl.gz").write_bytes(gz[: len(gz) * 2 // 3])
    zst = zstandard.ZstdCompressor().compress(b"\n".join(good_lines("zst", 80) + HOSTILE_LINES) + b"\n")
    (folder / "cut-zstd.jsonl.zst").write_bytes(zst[: len(zst) - 5])
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "not-gzip.jsonl.gz").write_bytes(b"this is not gzip")
    return folder


def run_module(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def test_pipeline_then_tokenizer_training_then_tokenize(hostile_dir, tmp_path):
    out = tmp_path / "out"
    run_module("data_pipeline.run", f"input.paths=[{hostile_dir}]", f"output.dir={out}",
               "executor.progress=false", "executor.workers=2")
    stats = json.loads((out / "stats.json").read_text())
    read_rules = stats["stages"]["read"]["rules"]
    for rule in ("invalid_text", "invalid_json", "nul_bytes", "text_not_string",
                 "missing_text", "not_an_object", "too_long", "truncated_file"):
        assert read_rules[rule]["docs"] >= 1, rule
    assert [e["source"] for e in stats["errors"]] == [str(hostile_dir / "not-gzip.jsonl.gz")]
    kept_ids = {json.loads(line)["id"] for p in (out / "kept").glob("*.jsonl.gz") for line in gzip.open(p)}
    assert "b" in kept_ids and "a" not in kept_ids

    tokenizer = tmp_path / "tokenizer"
    run_module("data_pipeline.train_tokenizer", f"input={hostile_dir}", f"output={tokenizer}", "vocab_size=500")
    shards = tmp_path / "shards"
    result = run_module("data_pipeline.tokenize", f"input={hostile_dir}", f"tokenizer={tokenizer}",
                        f"output={shards}", "num_workers=1")
    manifest = json.loads(next(shards.rglob("manifest.json")).read_text())
    assert manifest and result.returncode == 0
    # the pipeline's kept output is the tokenizer tools' usual input
    run_module("data_pipeline.tokenize", f"input={out / 'kept'}", f"tokenizer={tokenizer}",
               f"output={tmp_path / 'kept_shards'}", "num_workers=1")


def test_quality_training_and_dedup_eval(hostile_dir, tmp_path):
    result = run_module("data_pipeline.quality", "train", "--positive", str(hostile_dir / "plain.jsonl"),
                        "--negative", str(hostile_dir), "--out", str(tmp_path / "model.npz"), "--junk-per-lang",
                        "20", "--epochs", "5")
    assert "warning: skipped an unreadable input" in result.stderr  # not-gzip.jsonl.gz
    run_module("data_pipeline.dedup.evaluate", f"input=[{hostile_dir}]", "sample=40", "near_duplicates=1")
