"""The trained tokenizer follows Baichuan's recipe: split digits, byte fallback, exact round trip, fixed ids."""

from __future__ import annotations

import json

import pytest
import sentencepiece as spm

from data_pipeline.tokenizer.hf_export import load_hf_tokenizer, transformers_available
from data_pipeline.tokenizer.input_records import RecordFieldsConfig, guess_language
from data_pipeline.tokenizer.line_sample import BalancedLineSampler, LineSampleConfig, split_long_line


@pytest.fixture(scope="module")
def processor(trained_tokenizer):
    return spm.SentencePieceProcessor(model_file=str(trained_tokenizer / "tokenizer.model"))


def test_every_digit_is_its_own_token(processor):
    assert processor.encode("20231128", out_type=str) == list("20231128")
    assert processor.encode("在2023年", out_type=str).count("2") == 2


def test_rare_character_round_trips_through_bytes(processor):
    ids = processor.encode("𠀋")
    assert processor.id_to_piece(ids) == ["<0xF0>", "<0xA0>", "<0x80>", "<0x8B>"]
    assert processor.unk_id() not in ids
    assert processor.decode(ids) == "𠀋"


def test_decode_of_encode_is_identity_on_the_shared_corpus(processor, corpus_texts):
    texts = corpus_texts
    assert len(texts) >= 300  # every document of the corpus (2,078 in the full one, 300 in the shipped sample)
    mismatches = [t[:40] for t in texts if processor.decode(processor.encode(t)) != t]
    assert mismatches == []


def test_special_ids_and_vocab(processor, test_vocab_size):
    assert processor.get_piece_size() == test_vocab_size
    assert (processor.pad_id(), processor.bos_id(), processor.eos_id(), processor.unk_id()) == (0, 1, 2, 3)
    assert [processor.id_to_piece(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]


def test_report_records_the_balanced_sample(trained_tokenizer):
    report = json.loads((trained_tokenizer / "training_report.json").read_text())
    zh, en = report["lines_sampled"]["zh"], report["lines_sampled"]["en"]
    # defaults zh 0.5 / en 0.4 / other 0.1; the corpus has no "other" lines, so zh:en = 5:4 (zh is the limit)
    assert zh == report["lines_available"]["zh"] > 100
    assert abs(zh / (zh + en) - 5 / 9) < 0.03
    assert len(report["tokenizer_sha256"]) == 64


@pytest.mark.slow
@pytest.mark.skipif(not transformers_available(), reason="transformers not installed")
def test_hf_export_loads_and_matches_sentencepiece(trained_tokenizer, processor, corpus_texts):
    hf = load_hf_tokenizer(trained_tokenizer)
    for text in ["Hello world, 你好世界。", "20231128 𠀋\n\tindented  twice", corpus_texts[0][:500]]:
        assert hf.encode(text, add_special_tokens=False) == processor.encode(text)
    # transformers' "bos" is what it puts before a text: the document start of the token shards, </s>, not <s>.
    assert (hf.pad_token_id, hf.bos_token_id, hf.eos_token_id) == (0, 2, 2)
    assert hf.encode("你好") == [2, *processor.encode("你好")]


def test_sampler_balances_languages_deterministically(corpus_dir):
    files = sorted(corpus_dir.glob("*.jsonl"))
    # 160 lines: within what even the shipped sample has per language (150+ zh lines), so neither side runs out.
    config = LineSampleConfig(max_lines=160, language_fractions={"zh": 0.75, "en": 0.25})
    first = list(BalancedLineSampler(files, config, RecordFieldsConfig(), seed=1))
    sampler = BalancedLineSampler(files, config, RecordFieldsConfig(), seed=1)
    assert list(sampler) == first
    assert abs(sampler.sampled["zh"] - 120) < 24 and abs(sampler.sampled["en"] - 40) < 14
    assert list(BalancedLineSampler(files, config, RecordFieldsConfig(), seed=2)) != first


def test_sampler_reads_only_the_head_of_each_file_when_capped(corpus_dir):
    files = sorted(corpus_dir.glob("*.jsonl"))
    full = BalancedLineSampler(files, LineSampleConfig(), RecordFieldsConfig(), seed=1)
    capped = BalancedLineSampler(
        files, LineSampleConfig(max_documents_per_file=3), RecordFieldsConfig(), seed=1
    )
    assert 0 < sum(capped.available.values()) < sum(full.available.values()) / 20
    heads = [json.loads(line)["text"] for path in files for line in path.read_text().splitlines()[:3]]
    lines = list(capped)
    assert len(lines) == sum(capped.sampled.values()) > 0
    assert all(any(line in text for text in heads) for line in lines)


def test_long_lines_are_cut_at_character_boundaries():
    line = "汉字" * 1000  # 6,000 bytes
    pieces = split_long_line(line, 4096)
    assert "".join(pieces) == line and all(len(p.encode()) <= 4096 for p in pieces) and len(pieces) == 2


def test_language_guess_fallback():
    assert guess_language("这是一个中文句子，包含 some English.") == "zh"
    assert guess_language("Plain English text.") == "en"
    assert guess_language("12345 !!!") == "other"


def test_too_small_vocab_is_one_actionable_line(corpus_dir, tmp_path, capsys):
    from data_pipeline.train_tokenizer import main

    with pytest.raises(SystemExit) as exit_info:
        main([f"input={corpus_dir}", f"output={tmp_path}", "vocab_size=1000"])
    announced, err = capsys.readouterr().err.split("\n", 1)  # `input: N files, SIZE (...)`, then the error
    assert announced.startswith("input: 4 files")
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "vocab_size=1000 is smaller than" in err and "raise vocab_size or lower character_coverage" in err
    assert not (tmp_path / "tokenizer.model").exists()
