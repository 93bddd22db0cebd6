"""Sampling: the KV-cache path equals recomputing the whole sequence; temperature/top-p/EOS behave; the CLI runs
end to end on an exported model with a SentencePiece tokenizer trained on the real corpus."""

import json

import pytest
import torch

from pretrain.generate import generate, main, sample_next
from pretrain.weights import export_state_dict

from .conftest import build, small_config


def greedy_without_cache(model, ids, steps):
    for _ in range(steps):
        ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


@pytest.mark.parametrize("position", ["rope", "alibi"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_cached_greedy_generation_equals_full_recompute(position, attention):
    model = build(small_config(position=position, attention=attention))
    prompt = torch.randint(3, 97, (2, 5), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = greedy_without_cache(model, prompt, 12)
    assert torch.equal(generate(model, prompt, 12, temperature=0.0), expected)


def test_sampling_is_reproducible_with_a_generator_and_tiny_top_p_is_greedy():
    model = build(small_config())
    prompt = torch.randint(3, 97, (3, 4), generator=torch.Generator().manual_seed(1))
    runs = [generate(model, prompt, 10, 1.0, 0.95, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    assert torch.equal(generate(model, prompt, 10, 1.0, 1e-6), generate(model, prompt, 10, 0.0))


def test_top_p_keeps_only_the_nucleus():
    logits = torch.tensor([[0.6, 0.3, 0.1]]).log().expand(2000, 3)
    gen = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, 1.0, 0.5, gen).tolist()) == {0}
    assert set(sample_next(logits, 1.0, 0.8, gen).tolist()) == {0, 1}
    assert set(sample_next(logits, 1.0, 1.0, gen).tolist()) == {0, 1, 2}


def test_generation_stops_at_eos_and_pads_finished_rows():
    model = build(small_config())
    prompt = torch.randint(3, 97, (2, 4), generator=torch.Generator().manual_seed(2))
    greedy = generate(model, prompt, 8, temperature=0.0)
    eos = greedy[0, 6].item()  # pretend row 0's third new token is EOS
    out = generate(model, prompt, 8, temperature=0.0, eos_token_id=eos)
    assert out[0, 6].item() == eos and (out[0, 6:] == eos).all()
    assert out.shape[1] <= greedy.shape[1]


def test_generate_cli_on_an_exported_model(tmp_path, corpus_dir, capsys):
    spm = pytest.importorskip("sentencepiece")
    lines = []
    for path in sorted(corpus_dir.glob("zh_*.jsonl")):
        lines += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()[:100]]
    (tmp_path / "text.txt").write_text("\n".join(lines), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / "text.txt"), model_prefix=str(tmp_path / "sp"), vocab_size=3000, model_type="bpe",
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, character_coverage=0.98, minloglevel=2,
    )
    for position in ("rope", "alibi"):
        cfg = small_config(vocab_size=3000, position=position)
        out_dir = tmp_path / position
        export_state_dict(cfg, build(cfg).state_dict(), "baichuan", out_dir, str(tmp_path / "sp.model"))
        main([f"checkpoint={out_dir}", "prompt=今天天气", "max_new_tokens=20", "seed=3"])
        printed = capsys.readouterr().out.strip()
        assert printed.startswith("今天天气") and len(printed) > len("今天天气"), position


def test_generate_cli_rejects_an_unknown_key(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["checkpoint=x", "promt=hi"])
    assert exit_info.value.code == 2
    assert "promt" in capsys.readouterr().err
