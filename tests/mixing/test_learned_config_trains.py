"""End to end on real components: learn weights with the CLI, train on the written config with the trainer
(in-training benchmark evaluation on), then evaluate the checkpoint with `pretrain.evaluation`."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from data_pipeline.tokenize import TokenizeConfig, tokenize
from data_pipeline.train_tokenizer import TrainTokenizerConfig, train_tokenizer
from tests.evaluation.conftest import write_mmlu

REPO = Path(__file__).resolve().parents[2]
WORDS = "the a river city old new man woman sees walks by near over under big small green red house boat tree".split()
HANZI = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行"


def _cli(args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600, cwd=REPO,
                            env={**os.environ})
    if check:
        assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Two languages of generated text → the project's tokenizer trainer → token shards grouped by language."""
    out = tmp_path_factory.mktemp("mix")
    rng = random.Random(0)
    (out / "raw").mkdir()
    docs = {
        "zh": ["".join(rng.choice(HANZI) for _ in range(rng.randint(80, 200))) + "。" for _ in range(60)],
        "en": [" ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 80))) + "." for _ in range(60)],
    }
    for lang, texts in docs.items():
        lines = [json.dumps({"id": f"{lang}{i}", "text": t}, ensure_ascii=False) for i, t in enumerate(texts)]
        (out / "raw" / f"{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    train_tokenizer(TrainTokenizerConfig(input=str(out / "raw"), output=str(out / "tok"), vocab_size=600))
    tokenize(TokenizeConfig(input=str(out / "raw"), tokenizer=str(out / "tok"), output=str(out / "shards"),
                            group_by="lang", num_workers=1))
    return out


@pytest.mark.slow
@pytest.mark.integration
def test_learned_config_trains_and_the_checkpoint_evaluates(shards):
    out = shards
    conf = out / "conf"
    learned = conf / "data" / "learned.yaml"
    _cli(["pretrain.mixing", "learn=doremi", f"sources=[zh:{out / 'shards' / 'zh'},en:{out / 'shards' / 'en'}]",
          f"tokenizer={out / 'tok' / 'tokenizer.model'}", f"output={learned}", "doremi.reference_steps=4",
          "doremi.proxy_steps=4", "doremi.seq_len=32", "doremi.batch_size=4", "doremi.samples_per_domain=2"])
    written = OmegaConf.load(learned)
    fractions = {s.name: s.target_fraction for s in written.sources}
    assert set(fractions) == {"zh", "en"} and sum(fractions.values()) == pytest.approx(1.0, abs=1e-6)
    assert min(fractions.values()) > 0

    mmlu = write_mmlu(out / "mmlu")
    run = out / "run"
    _cli(["pretrain.train", "model=tiny", "data=learned", f"hydra.searchpath=[file://{conf}]",
          f"logging.run_dir={run}", "train.max_steps=2", "train.save_interval=2", "train.seq_len=32",
          "train.micro_batch_size=2", "evaluation.interval=1", f"evaluation.mc_data_dir={mmlu}",
          "evaluation.shots=1", "evaluation.mc_max_items=2"])
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in records if "eval/ppl/zh" in r]
    assert [r["step"] for r in evals] == [1, 2]
    assert all(r["eval/ppl/en"] > 1 and 0 <= r["eval/mc/letter"] <= 1 for r in evals)
    assert "eval/ppl/lang/zh" in evals[0]

    result = _cli(["pretrain.evaluation", f"checkpoint={run / 'checkpoints'}", "task=all", f"data_dir={mmlu}",
                   "shots=2", f"output={out / 'eval'}", "batches=2", "micro_batch_size=2"])
    ppl = json.loads((out / "eval" / "ppl.json").read_text())
    mc = json.loads((out / "eval" / "mc.json").read_text())
    assert set(ppl["sources"]) == {"zh", "en"} and set(ppl["languages"]) == {"zh", "en"}
    assert all(v["perplexity"] > 1 for v in ppl["sources"].values())
    assert mc["items"] == 3 and mc["subjects"][0]["subject"] == "astronomy"
    assert "average (subjects)" in result.stdout

    bad = _cli(["pretrain.evaluation", f"checkpoint={out / 'nowhere'}", "task=ppl"], check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
    bad_mix = _cli(["pretrain.mixing", "sources=[zh:/no/such/dir,en:/no/such/dir2]", f"output={out / 'x.yaml'}"],
                   check=False)
    assert bad_mix.returncode == 2 and bad_mix.stderr.strip().startswith("error:")
