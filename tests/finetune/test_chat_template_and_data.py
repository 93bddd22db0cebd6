"""The chat template puts loss on replies only; instruction data packs examples with their own document ids and
resumes at the exact global sample; bad records are counted, not raised."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import sentencepiece as spm
import torch

from data_pipeline.tokenizer.hf_export import write_hf_tokenizer_files
from plumbing.user_error import UserError
from pretrain.finetune.chat_template import ChatTokens, ExampleError, conversation, render, reply_prompt
from pretrain.finetune.instruction_data import InstructionDataError, InstructionLoader


@pytest.fixture(scope="module")
def tokenizer(chat_tokenizer):
    return spm.SentencePieceProcessor(model_file=str(chat_tokenizer))


@pytest.fixture(scope="module")
def tokens(tokenizer):
    return ChatTokens.of(tokenizer)


def test_role_markers_are_control_ids_text_cannot_produce(tokenizer, tokens):
    assert len({tokens.eos, tokens.user, tokens.assistant}) == 3
    assert tokens.user not in tokenizer.encode("<user> <assistant> 你好")  # a prompt cannot forge a turn


def test_only_the_reply_and_its_eos_carry_loss(tokenizer, tokens):
    ids, trained = render({"system": "你是助手。", "prompt": "中国的首都是哪里？", "response": "北京。"},
                          tokenizer, tokens)
    reply = tokenizer.encode("北京。")
    expected = [*tokens.start, *tokenizer.encode("你是助手。"), tokens.user, *tokenizer.encode("中国的首都是哪里？"),
                tokens.assistant, *reply, tokens.eos]
    assert ids == expected
    assert [i for i, t in zip(ids, trained) if t] == [*reply, tokens.eos]


@pytest.mark.parametrize("system", ["", "你是助手。"])
def test_generation_asks_exactly_what_training_put_before_a_reply(tokenizer, tokens, system):
    ids, trained = render({"system": system, "prompt": "中国的首都是哪里？", "response": "北京。"}, tokenizer, tokens)
    assert reply_prompt("中国的首都是哪里？", tokenizer, tokens, system) == ids[:trained.index(True)]


def test_the_exported_tokenizer_applies_the_same_template_in_transformers(chat_tokenizer, tokenizer, tokens,
                                                                         tmp_path):
    from transformers import AutoTokenizer

    shutil.copyfile(chat_tokenizer, tmp_path / "tokenizer.model")
    write_hf_tokenizer_files(tmp_path)
    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    messages = [{"role": "system", "content": "你是助手。"}, {"role": "user", "content": "1加1等于几？"},
                {"role": "assistant", "content": "等于2。"}, {"role": "user", "content": "Thanks! 谢谢"},
                {"role": "assistant", "content": "不客气。"}]
    ids, _ = render({"messages": messages}, tokenizer, tokens)
    assert list(hf.apply_chat_template(messages, tokenize=True, return_dict=False)) == ids
    asked = hf.apply_chat_template(messages[:2], tokenize=True, add_generation_prompt=True, return_dict=False)
    assert list(asked) == reply_prompt("1加1等于几？", tokenizer, tokens, system="你是助手。")


def test_every_assistant_turn_of_a_conversation_is_trained(tokenizer, tokens):
    messages = [{"role": "user", "content": "一加一？"}, {"role": "assistant", "content": "二。"},
                {"role": "user", "content": "谢谢"}, {"role": "assistant", "content": "不客气。"}]
    ids, trained = render({"messages": messages}, tokenizer, tokens)
    assert [i for i, t in zip(ids, trained) if t] == [*tokenizer.encode("二。"), tokens.eos,
                                                      *tokenizer.encode("不客气。"), tokens.eos]
    assert ids.count(tokens.user) == 2 and ids.count(tokens.assistant) == 2


@pytest.mark.parametrize(("record", "reason"), [
    ({"text": "plain pretraining text"}, "neither_messages_nor_prompt_response"),
    ({"prompt": "q", "response": 3}, "prompt_or_response_not_text"),
    ({"prompt": "q", "response": "   "}, "empty_response"),
    ({"messages": []}, "empty_messages"),
    ({"messages": "hi"}, "messages_not_a_list"),
    ({"messages": [{"role": "user", "content": "q"}]}, "turns_not_user_assistant_pairs"),
    ({"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]},
     "roles_not_alternating_user_assistant"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}, "message_without_text_content"),
])
def test_malformed_examples_name_their_reason(record, reason):
    with pytest.raises(ExampleError, match=reason):
        conversation(record)


def test_a_tokenizer_without_role_symbols_is_one_clear_error(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(["hello world", "你好世界", "numbers 12345"] * 50))
    spm.SentencePieceTrainer.train(input=str(lines), model_prefix=str(tmp_path / "plain"), vocab_size=26,
                                   minloglevel=2)
    with pytest.raises(UserError, match="has no <user> symbol.*train_tokenizer"):
        ChatTokens.of(spm.SentencePieceProcessor(model_file=str(tmp_path / "plain.model")))


def loader(instruction_file, chat_tokenizer, dp_rank=0, dp_size=1, seq_len=64, seed=0):
    return InstructionLoader([str(instruction_file)], str(chat_tokenizer), seq_len, micro_batch_size=2,
                             dp_rank=dp_rank, dp_size=dp_size, seed=seed)


def test_packed_batches_mask_prompts_keep_examples_apart_and_count_rejections(instruction_file, chat_tokenizer,
                                                                              tokenizer, tokens):
    data = loader(instruction_file, chat_tokenizer)
    assert data.num_examples == 240 and data.rejections == {"invalid_json": 1, "neither_messages_nor_prompt_response": 1}
    batch = next(iter(data))
    ids, labels, docs = batch["input_ids"], batch["labels"], batch["doc_ids"]
    # A label is kept exactly where the next token is reply text or its eos: never a prompt, marker or padding.
    targets = labels[labels != -100]
    assert len(targets) and tokens.user not in targets and tokens.assistant not in targets
    assert 0 not in targets and tokenizer.bos_id() not in ids  # pad id 0; <s> is never used
    assert (targets == tokens.eos).sum() >= 1
    for row in range(ids.shape[0]):
        starts = [0, *(s for s in range(1, ids.shape[1]) if docs[row, s] != docs[row, s - 1])]
        # Every example is a document of its own that opens with the document start (the padding, id 0, too is
        # a document of its own), and cu_seqlens (flash-attn) follows the documents.
        assert all(ids[row, s:s + len(tokens.start)].tolist() in (tokens.start, [0] * len(tokens.start))
                   for s in starts)
    assert batch["cu_seqlens"][-1] == ids.numel()
    assert data.cut == 0 and data.trained.sum() == data.trained_tokens  # every reply token is in some window


def test_every_window_once_per_epoch_and_exact_resume_on_another_data_parallel_size(instruction_file, chat_tokenizer):
    one = loader(instruction_file, chat_tokenizer)
    n = one.num_windows
    first_epoch = [one.window_of(sample) for sample in range(n)]
    second_epoch = [one.window_of(sample) for sample in range(n, 2 * n)]
    assert sorted(first_epoch) == sorted(second_epoch) == list(range(n)) and first_epoch != second_epoch
    stream = iter(one)
    for _ in range(7):
        next(stream)
    state = one.state_dict()
    expected = [next(stream)["input_ids"] for _ in range(2)]  # the next two micro batches on one rank
    # Two ranks resuming the same state: rank r's micro batch is the one rank's (r+1)-th, i.e. the same
    # global samples in the same order, whatever the data-parallel size.
    for rank in (0, 1):
        resumed = loader(instruction_file, chat_tokenizer, dp_rank=rank, dp_size=2)
        resumed.load_state_dict(state)
        assert torch.equal(next(iter(resumed))["input_ids"], expected[rank])


def test_a_changed_data_set_refuses_the_saved_position(instruction_file, chat_tokenizer):
    state = loader(instruction_file, chat_tokenizer).state_dict()
    with pytest.raises(InstructionDataError, match="instruction data differs"):
        loader(instruction_file, chat_tokenizer, seed=1).load_state_dict(state)
    fresh = loader(instruction_file, chat_tokenizer)
    fresh.load_state_dict({"consumed_samples": 800})  # a pretraining checkpoint's state: fine-tuning starts at 0
    assert fresh.consumed_samples == 0


def test_no_usable_example_is_one_clear_error(tmp_path, chat_tokenizer):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "pretraining text only"}) + "\n")
    with pytest.raises(InstructionDataError, match="no usable example.*neither_messages_nor_prompt_response"):
        InstructionLoader([str(path)], str(chat_tokenizer), 64, 2, 0, 1, seed=0)


def test_an_example_longer_than_a_window_is_cut_and_counted(tmp_path, chat_tokenizer):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "问" * 10, "response": "答" * 200}, ensure_ascii=False) + "\n")
    data = InstructionLoader([str(path)], str(chat_tokenizer), 32, 1, 0, 1, seed=0)
    assert data.cut == 1 and data.tokens.shape == (1, 33) and np.all(data.doc_ids == 0)


def test_the_trained_token_count_is_what_the_windows_train_after_cutting(tmp_path, chat_tokenizer, tokenizer):
    """A reply far longer than a window is cut: the count is the targets the windows hold, not the reply's."""
    path = tmp_path / "huge.jsonl"
    records = [{"prompt": "问题", "response": "很长的回答。" * 2000}, {"prompt": "中国的首都是哪里？", "response": "北京。"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    data = InstructionLoader([str(path)], str(chat_tokenizer), 128, 1, 0, 1, seed=0)
    assert data.cut == 1
    labelled = sum(int((data.batch(i)["labels"] != -100).sum()) for i in range(data.num_windows))
    assert data.trained_tokens == labelled <= data.num_windows * 128
    assert f"({labelled} trained tokens, 1 examples cut" in data.describe(10)


@pytest.mark.pin_memory
def test_every_tensor_of_a_batch_is_pinned_when_cuda_is_there(instruction_file, chat_tokenizer, monkeypatch):
    """Pinning needs CUDA, so a CPU machine tracks it: pin_memory is recorded, and a tensor made after it (the
    labels' clone once) is not pinned."""
    pinned: set[int] = set()

    def pin_memory(tensor):
        copy = tensor.clone()
        pinned.add(copy.data_ptr())
        return copy

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    batch = next(iter(loader(instruction_file, chat_tokenizer)))
    tensors = {name: value for name, value in batch.items() if isinstance(value, torch.Tensor)}
    assert set(tensors) == {"input_ids", "labels", "doc_ids", "cu_seqlens"}
    assert all(tensor.data_ptr() in pinned for tensor in tensors.values())
    assert (batch["labels"] == -100).any()  # the prompt mask is in the pinned labels


def test_bytes_that_are_not_utf8_are_invalid_text_and_empty_messages_their_own_reason(tmp_path, chat_tokenizer):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"prompt": "你好", "response": "你好！"}, ensure_ascii=False).encode()
    path.write_bytes(b"\n".join([good, '{"prompt": "你好", "response": "'.encode() + "好".encode("gbk") + b'"}',
                                 b'{"messages": []}', b"{not json"]) + b"\n")
    data = InstructionLoader([str(path)], str(chat_tokenizer), 64, 1, 0, 1, seed=0)
    assert data.rejections == {"invalid_text": 1, "empty_messages": 1, "invalid_json": 1}
