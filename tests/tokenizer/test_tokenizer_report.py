"""tokenizer_report: the compression table's numbers are the defined ratios."""

from __future__ import annotations

import pytest

from data_pipeline.tokenizer.compression import load_tokenizer_under_test, measure
from data_pipeline.tokenizer.hf_export import load_hf_tokenizer, transformers_available
from data_pipeline.tokenizer_report import TokenizerReportConfig, build_report, main


def test_rates_follow_their_definition(trained_tokenizer):
    docs = [("zh", "汉字汉字。"), ("en", "Hello, world."), ("zh", "数字 2023")]
    ours, by_bytes, by_chars = (
        load_tokenizer_under_test(s) for s in (str(trained_tokenizer), "bytes", "chars")
    )
    measure([ours, by_bytes, by_chars], docs)
    zh = by_bytes.per_language["zh"]
    assert (zh.documents, zh.characters, zh.tokens) == (2, 12, 5 * 3 + 2 * 3 + 1 + 4)
    assert by_chars.per_language["all"].tokens_per_char == 1.0
    assert by_bytes.per_language["en"].bytes_per_token == 1.0
    assert ours.per_language["zh"].tokens < by_bytes.per_language["zh"].tokens
    assert ours.per_language["all"].documents == 3


def test_report_table_on_the_corpus(trained_tokenizer, corpus_dir, tmp_path):
    out = tmp_path / "table.md"
    config = TokenizerReportConfig(
        tokenizer=str(trained_tokenizer),
        input=str(corpus_dir),
        references=["bytes"],
        output=str(out),
    )
    table = build_report(config)
    assert out.read_text().strip() == table
    rows = [line for line in table.splitlines() if line.startswith("| zh |")]
    assert len(rows) == 2
    ours, byte_level = (float(r.split("|")[7]) for r in rows)
    assert ours < 1.0 < byte_level  # fewer tokens than characters; bytes need ~3 per Chinese character


def test_missing_tokenizer_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([f"tokenizer={tmp_path}/nope.model", f"input={tmp_path}"])
    assert capsys.readouterr().err.startswith("error: tokenizer")


@pytest.mark.slow
@pytest.mark.skipif(not transformers_available(), reason="transformers not installed")
def test_hf_tokenizer_json_baseline_counts_like_sentencepiece(trained_tokenizer, tmp_path):
    """The HF branch: a tokenizer.json saved from our export counts exactly the tokens SentencePiece does."""
    load_hf_tokenizer(trained_tokenizer).save_pretrained(str(tmp_path / "hf"))
    texts = [("zh", "在2023年，研究人员发现了𠀋。"), ("en", "Hello world,  indented\n\tline 42.")]
    ours, hf = (
        load_tokenizer_under_test(str(trained_tokenizer)),
        load_tokenizer_under_test(str(tmp_path / "hf" / "tokenizer.json")),
    )
    measure([ours, hf], texts)
    assert hf.vocab_size == ours.vocab_size
    assert {k: v.tokens for k, v in hf.per_language.items()} == {
        k: v.tokens for k, v in ours.per_language.items()
    }
