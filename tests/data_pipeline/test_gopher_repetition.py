"""Gopher's repetition measures as datatrove defines them (find_top_duplicate, find_all_duplicate: repeats only,
over the text length), checked against values worked out by hand, and their thresholds on real text."""

import pytest

from data_pipeline.config import compose_pipeline_config
from data_pipeline.filters.gopher_repetition import GopherRepetitionFilter
from data_pipeline.filters.textstats import ngram_tokens, repeated_ngram_chars, top_ngram_chars
from tests.real_text import corpus_records

EN = "the cat sat the cat sat the cat"  # 31 characters


def test_repeated_ngrams_count_only_the_repeats():
    tokens = EN.split()
    # 3-grams left to right: "the cat sat", "cat sat the", "sat the cat" are new; the 4th ("the cat sat") is a
    # repeat (9 chars) and the scan jumps 3 tokens to index 6, where no 3-gram is left.
    assert repeated_ngram_chars(tokens, 3) == 9
    # 2-grams: the, cat / cat, sat / sat, the are new; "the cat" repeats at 3 (+6, jump to 5); "sat the" at 5
    # (+6, jump to 7): 12. Counting every occurrence of a repeated 2-gram, as before, gave 24 (all tokens).
    assert repeated_ngram_chars(tokens, 2) == 12
    assert repeated_ngram_chars(tokens, 6) == 0 and repeated_ngram_chars(tokens, 9) == 0


def test_top_ngram_counts_every_occurrence_with_its_spaces():
    tokens = EN.split()
    assert top_ngram_chars(tokens, 2) == len("the cat") * 3  # 21, datatrove's len(" ".join(gram)) * count
    assert top_ngram_chars(tokens, 3) == len("the cat sat") * 2
    assert top_ngram_chars("a b c d".split(), 2) == 0  # nothing occurs twice: no repetition to measure
    assert top_ngram_chars(["a"], 2) == 0


def test_chinese_ngrams_are_characters_joined_without_spaces():
    text = "长江长江长江。"
    assert ngram_tokens(text, "zh") == ["长", "江", "长", "江", "长", "江", "。"]
    assert top_ngram_chars(ngram_tokens(text, "zh"), 2, "") == 6  # 长江 three times
    assert ngram_tokens("用Python写的。。。", "zh") == ["用", "Python", "写", "的", "。。。"]
    assert ngram_tokens("Don't stop!!!", "en") == ["Don't", "stop", "!!!"]


def test_filter_divides_by_text_length():
    zh_filter = GopherRepetitionFilter({"zh": compose_pipeline_config(["output.dir=x"]).filters.zh})
    sentence = "黄天竺鲷又名环天竺鲷，是天竺鲷科的一种鱼。"  # 21 characters
    text = sentence + "本鱼分布于西太平洋区。" + sentence  # 53 characters, one sentence repeated
    signals = zh_filter.compute(text, "zh")
    # Only the second copy counts, in whole jumps of n characters: 20, 18, 21, 16, 18, 20 for n = 5..10 (the
    # first copy, which the old measure also counted, adds nothing).
    assert signals["dup_ngram"] == [round(21 // n * n / 53, 4) for n in range(5, 11)]


@pytest.fixture(scope="module")
def repetition():
    cfg = compose_pipeline_config(["output.dir=unused"])
    return GopherRepetitionFilter(cfg.filters.per_language())


def _rejected(stage, records, lang):
    return [(r["id"], stage.judge(s, stage.thresholds[lang])) for r in records
            for s in [stage.compute(r["text"], lang)] if stage.judge(s, stage.thresholds[lang])]


def test_clean_novel_and_wikipedia_pass(repetition):
    """Botchan documents (e.g. botchan/204, /206) were rejected as dup_5gram/dup_6gram by the old measure."""
    records = corpus_records()
    novel = [r for r in records if r["id"].startswith("botchan/")]
    wiki = [r for r in records if r["id"].startswith(("cmrc2018/", "gsdsimp/"))]
    assert novel and wiki
    assert _rejected(repetition, novel, "en") == []
    assert _rejected(repetition, wiki, "zh") == []


@pytest.mark.parametrize("lang, text, rule", [
    ("zh", "\n".join(["最新优惠活动火热进行中，欢迎咨询。"] * 4), "dup_line_frac"),
    ("zh", "，".join(["特价机票", "特价酒店", "特价机票"] * 12) + "。", "top_3gram"),
    ("zh", "本店主营各类手机配件，价格优惠，欢迎选购。" * 3 + "地址在市中心。", "dup_5gram"),
    ("en", " ".join(["cheap flights and cheap hotels"] * 10), "top_2gram"),
])
def test_repetitive_junk_is_rejected(repetition, lang, text, rule):
    assert repetition.judge(repetition.compute(text, lang), repetition.thresholds[lang]) == rule
