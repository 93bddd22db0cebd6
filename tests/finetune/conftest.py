"""A tokenizer with the chat template's control symbols (trained on the shipped zh/en sample) and a tiny random
model exported as a Hugging Face directory: the pretrained weights fine-tuning starts from."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from data_pipeline.train_tokenizer import COMMAND as TRAIN_TOKENIZER_COMMAND
from data_pipeline.train_tokenizer import train_tokenizer
from pretrain.model import BaichuanForCausalLM, ModelConfig
from pretrain.weights import export_state_dict
from tests.real_text import FIXTURE_CORPUS

VOCAB = 3200  # the shipped sample needs ~2,940 characters at the default coverage
CAPITALS = {"中国": "北京", "日本": "东京", "法国": "巴黎", "英国": "伦敦", "德国": "柏林", "意大利": "罗马"}


@pytest.fixture(scope="session")
def chat_tokenizer(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chat_tokenizer")
    train_tokenizer(TRAIN_TOKENIZER_COMMAND.build_config([f"input={FIXTURE_CORPUS}", f"output={out}",
                                                          f"vocab_size={VOCAB}"]))
    return out / "tokenizer.model"


@pytest.fixture(scope="session")
def hf_base(chat_tokenizer: Path, tmp_path_factory) -> Path:
    """Random tiny weights in the llama layout, with the tokenizer: what `finetune.init_from` may name."""
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=VOCAB, max_seq_len=512).validate()
    model = BaichuanForCausalLM(config)
    return export_state_dict(config, model.state_dict(), "llama", tmp_path_factory.mktemp("hf_base") / "base",
                             str(chat_tokenizer), torch.float32)


def instruction_records(count: int, seed: int = 0) -> list[dict]:
    """Both accepted shapes: one-turn prompt/response and multi-turn messages with a system prompt."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        country = rng.choice(sorted(CAPITALS))
        if index % 2:
            a, b = rng.randint(1, 50), rng.randint(1, 50)
            records.append({"messages": [
                {"role": "system", "content": "你是一个乐于助人的助手。"},
                {"role": "user", "content": f"{a}加{b}等于多少？"},
                {"role": "assistant", "content": f"{a}加{b}等于{a + b}。"},
                {"role": "user", "content": "谢谢"},
                {"role": "assistant", "content": "不客气。"}]})
        else:
            records.append({"prompt": f"{country}的首都是哪里？", "response": f"{country}的首都是{CAPITALS[country]}。"})
    return records


@pytest.fixture(scope="session")
def instruction_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sft_data") / "train.jsonl"
    lines = [json.dumps(record, ensure_ascii=False) for record in instruction_records(240)]
    path.write_text("\n".join([*lines, "not json", json.dumps({"prompt": "no response"})]) + "\n", encoding="utf-8")
    return path
