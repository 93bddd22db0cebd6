"""The whole path on real components: pipeline → tokenizer → shards → 2-rank ZeRO-2 training → resume →
generation. What a user of `make demo` relies on, asserted."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.integration.conftest import metrics, run_cli, train
from tests.real_text import corpus_files, corpus_records

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _records(folder):
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            yield from (json.loads(line) for line in fh if line.strip())


def test_pipeline_accounts_for_every_record(demo_data):
    stats = json.loads((demo_data / "pipeline" / "stats.json").read_text())
    kept = list(_records(demo_data / "pipeline" / "kept"))
    rejected = list(_records(demo_data / "pipeline" / "rejected"))
    raw_lines = sum(1 for path in (demo_data / "raw").iterdir()
                    for _ in (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)))
    assert stats["totals"]["docs_read"] == raw_lines == len(kept) + len(rejected)
    assert all(r.get("id") and r.get("reject_reason") for r in rejected)
    reasons = {r["reject_reason"].split(":")[0] for r in rejected}
    assert {"read", "exact_dedup"} <= reasons  # the torn JSON line and the exact copies the corpus contains
    assert {r["source"] for r in kept} == {"zh_web", "en_web"}  # input fields survive
    # The corpus-wide stages report what they decided as a whole, consistent with the per-record reasons.
    fit = stats["corpus_fit"]
    assert fit["exact_dedup"]["removed"] == sum(r["reject_reason"].startswith("exact_dedup:") for r in rejected)
    sentence = stats["stages"]["sentence_dedup"]
    assert fit["sentence_dedup"]["removed_chars"] == \
        sentence["chars_in"] - sentence["chars_kept"] - sentence["chars_rejected"]


def test_train_stop_resume_continue_and_generate(demo_data, tmp_path):
    run_dir = tmp_path / "run"
    train(demo_data, run_dir, ["train.max_steps=12", "train.save_interval=6", "train.stop_at_step=6"])
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_00000006"
    second = train(demo_data, run_dir, ["train.max_steps=12", "train.save_interval=6"])
    assert "resumed from" in second.stdout and "at step 6" in second.stdout
    records = metrics(run_dir)
    assert [r["step"] for r in records] == list(range(1, 13))  # each step exactly once across both launches
    assert [r["consumed_samples"] for r in records] == [8 * s for s in range(1, 13)]
    assert records[-1]["loss"] < records[0]["loss"] - 1.0
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_00000012"
    assert (run_dir / "checkpoints" / "step_00000012" / "tokenizer.model").is_file()
    sample = run_cli(["pretrain.generate", f"checkpoint={run_dir / 'checkpoints'}", "prompt=在长江沿岸，",
                      "max_new_tokens=20", "temperature=0.8", "top_p=0.9"])
    assert sample.stdout.strip().splitlines()[-1].startswith("在长江沿岸，")
    run_cli(["pretrain.export", f"checkpoint={run_dir / 'checkpoints'}", "format=llama", f"output={run_dir / 'hf'}"])
    hf_config = json.loads((run_dir / "hf" / "config.json").read_text())
    assert hf_config["architectures"] == ["LlamaForCausalLM"] and hf_config["vocab_size"] == 2000
    assert list((run_dir / "hf").glob("*.safetensors")) and (run_dir / "hf" / "tokenizer.model").is_file()


def test_pipeline_on_real_corpus(tmp_path):
    files = corpus_files()
    run_cli(["data_pipeline.run", f"input.paths=[{','.join(map(str, files))}]", f"output.dir={tmp_path / 'out'}"])
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    lines = sum(len(path.read_text(encoding="utf-8").splitlines()) for path in files)
    totals = stats["totals"]
    assert totals["docs_read"] == lines == totals["docs_kept"] + totals["docs_rejected"]
    kept_ids = {r["id"] for r in _records(tmp_path / "out" / "kept")}
    wiki = [i for i in kept_ids if i.startswith("cmrc2018/")]
    wiki_read = sum(1 for record in corpus_records() if record["id"].startswith("cmrc2018/"))
    assert len(wiki) >= 0.9 * wiki_read  # clean Wikipedia prose survives the filters
