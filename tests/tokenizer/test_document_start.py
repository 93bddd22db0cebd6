"""One document-start convention: every consumer starts a plain text with exactly the tokens that precede a
document in the token shards — read here from real shards, not from the function that defines it — and none
uses BOS, which pretraining never sees (docs/tokenizer.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import torch

from data_pipeline.formats.token_shards import read_manifest
from data_pipeline.tokenize import TokenizeConfig, tokenize
from data_pipeline.train_tokenizer import COMMAND as TRAIN_TOKENIZER_COMMAND
from data_pipeline.train_tokenizer import train_tokenizer
from pretrain.finetune.chat_template import ChatTokens, render, reply_prompt
from pretrain.model import BaichuanForCausalLM, ModelConfig
from pretrain.weights import export_state_dict
from tests.real_text import FIXTURE_CORPUS

TEXT = "今天天气很好，我们去公园散步。"
VOCAB = 3200


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("doc_start_tokenizer")
    train_tokenizer(TRAIN_TOKENIZER_COMMAND.build_config([f"input={FIXTURE_CORPUS}", f"output={out}",
                                                          f"vocab_size={VOCAB}"]))
    return out


@pytest.fixture(scope="module")
def sp(tokenizer_dir: Path) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(tokenizer_dir / "tokenizer.model"))


@pytest.fixture(scope="module")
def shard_prefix(tokenizer_dir: Path, sp, tmp_path_factory) -> list[int]:
    """The tokens before TEXT's document in a real shard, where it follows another document."""
    raw = tmp_path_factory.mktemp("doc_start_raw")
    records = [{"id": "1", "text": "第一篇文档。"}, {"id": "2", "text": TEXT}, {"id": "3", "text": "The third one."}]
    (raw / "docs.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n",
                                    encoding="utf-8")
    out = tmp_path_factory.mktemp("doc_start_shards")
    tokenize(TokenizeConfig(input=str(raw), tokenizer=str(tokenizer_dir), output=str(out), num_workers=1))
    group = next(out.glob("*/manifest.json")).parent
    manifest = read_manifest(group)
    shard = manifest.shards[0].name
    tokens = np.fromfile(group / f"{shard}.bin", dtype=manifest.dtype).tolist()
    bounds = np.fromfile(group / f"{shard}.idx", dtype=np.int64).tolist()
    text_ids = sp.encode(TEXT)
    start = next(bounds[i] for i in range(1, len(bounds) - 1) if tokens[bounds[i]:bounds[i] + len(text_ids)] == text_ids)
    previous_end = bounds[bounds.index(start) - 1]
    prefix = tokens[previous_end:start][-1:]  # what sits between the previous document's text and this one
    assert sp.bos_id() not in tokens  # pretraining never sees BOS
    assert prefix == [sp.eos_id()]
    return prefix


def first_model_input(monkeypatch) -> list[torch.Tensor]:
    """Record every input_ids the model is called with."""
    seen: list[torch.Tensor] = []
    forward = BaichuanForCausalLM.forward

    def recording(self, input_ids, *args, **kwargs):
        seen.append(input_ids.detach().cpu())
        return forward(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(BaichuanForCausalLM, "forward", recording)
    return seen


@pytest.fixture(scope="module")
def hf_model(tokenizer_dir: Path, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=VOCAB, hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64,
                      max_seq_len=256).validate()
    return export_state_dict(cfg, BaichuanForCausalLM(cfg).state_dict(), "llama",
                             tmp_path_factory.mktemp("doc_start_hf") / "model", str(tokenizer_dir / "tokenizer.model"),
                             torch.float32)


def test_generate_starts_a_plain_prompt_as_the_shards_start_a_document(hf_model, sp, shard_prefix, monkeypatch,
                                                                      capsys):
    from pretrain.generate import main

    seen = first_model_input(monkeypatch)
    assert main([f"checkpoint={hf_model}", f"prompt={TEXT}", "max_new_tokens=2", "temperature=0"]) == 0
    assert seen[0][0].tolist() == shard_prefix + sp.encode(TEXT)
    assert capsys.readouterr().out.startswith(TEXT)


def test_evaluation_starts_every_prompt_as_the_shards_start_a_document(hf_model, sp, shard_prefix, monkeypatch,
                                                                        tmp_path):
    from pretrain.evaluation.cli import main
    from pretrain.evaluation.mc_prompt import build_prompt

    excerpt = Path(__file__).resolve().parents[1] / "fixtures" / "cmmlu_excerpt"
    seen = first_model_input(monkeypatch)
    main([f"checkpoint={hf_model}", "task=mc", f"data_dir={excerpt}", "shots=0", "max_items=1",
          f"output={tmp_path}"])
    from pretrain.evaluation import load_benchmark

    subject = load_benchmark(excerpt).subjects["elementary_mathematics"]
    prompt = build_prompt("cmmlu", subject.title, [], subject.splits["test"][0])
    letter_row = seen[0][0].tolist()
    assert letter_row == shard_prefix + sp.encode(prompt + "A")


def test_the_fine_tuning_template_starts_an_example_as_the_shards_start_a_document(sp, shard_prefix):
    tokens = ChatTokens.of(sp)
    ids, trained = render({"prompt": TEXT, "response": "好的。"}, sp, tokens)
    assert ids[:len(shard_prefix)] == shard_prefix and ids[len(shard_prefix)] == tokens.user
    assert reply_prompt(TEXT, sp, tokens)[:len(shard_prefix) + 1] == [*shard_prefix, tokens.user]
    assert sp.bos_id() not in ids


def test_the_exported_tokenizer_in_transformers_starts_a_text_as_the_shards_do(tokenizer_dir, hf_model, sp,
                                                                              shard_prefix, tmp_path):
    from transformers import AutoTokenizer

    for directory in (tokenizer_dir, hf_model):  # train_tokenizer's own export and pretrain.export's
        hf = AutoTokenizer.from_pretrained(str(directory))
        assert hf(TEXT)["input_ids"] == shard_prefix + sp.encode(TEXT)
        messages = [{"role": "user", "content": TEXT}, {"role": "assistant", "content": "好的。"}]
        ids, _ = render({"messages": messages}, sp, ChatTokens.of(sp))
        assert list(hf.apply_chat_template(messages, tokenize=True, return_dict=False)) == ids
        assert hf.decode(hf(TEXT)["input_ids"], skip_special_tokens=True) == TEXT
    shutil.rmtree(tmp_path, ignore_errors=True)
