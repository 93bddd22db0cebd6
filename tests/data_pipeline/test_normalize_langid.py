from data_pipeline.langid import LangIdConfig, LangIdStage, guess_language, split_by_language
from data_pipeline.normalize import NormalizeConfig, NormalizeStage, normalize_text
from data_pipeline.normalize.chinese_variants import matching_key, to_simplified
from data_pipeline.stage import ShardInfo

SHARD = ShardInfo(0, 1, "00000")


def test_normalize_folds_width_entities_tags_controls_and_spaces():
    text = "ＡＢＣ１２３，這是&amp;lt;b&amp;gt;粗体<br>下一行\u200b  的\x07文字！\r\n\n\n\n\tend"
    out = normalize_text(text, NormalizeConfig())
    # "&amp;lt;b&amp;gt;" is doubly escaped markup: unescaped twice it is a tag, and tags go
    assert out == "ABC123，這是粗体\n下一行 的文字！\n\nend"
    assert normalize_text("a &lt; b &amp; c", NormalizeConfig()) == "a < b & c"


def test_traditional_to_simplified_is_opencc_and_text_is_unchanged_unless_asked():
    # 臺 於 兩 娛 註 冊 were missing from the old fallback table, which wrote mixed script ("位於臺湾").
    assert to_simplified("位於臺灣") == "位于台湾"
    assert to_simplified("兩家娛樂公司註冊，手冊") == "两家娱乐公司注册，手册"
    assert to_simplified("乾燥的頭髮") == "干燥的头发"  # phrase-level: 乾→干 and 髮→发 in context
    text = "位於臺灣的兩家娛樂公司已註冊。"
    assert normalize_text(text, NormalizeConfig()) == text
    assert normalize_text(text, NormalizeConfig(traditional_to_simplified=True)) == "位于台湾的两家娱乐公司已注册。"
    assert matching_key("百家樂 Casino") == "百家乐 casino"


def test_normalize_stage_rejects_text_that_becomes_empty():
    records = [{"id": "a", "text": "\u200b\u200b"}, {"id": "b", "text": "ok"}]
    out = list(NormalizeStage().run(iter(records), SHARD))
    assert out[0]["reject_reason"] == "normalize:empty_after_normalize" and out[0]["text"] == "\u200b\u200b"
    assert "reject_reason" not in out[1]


def test_language_guesses():
    cfg = LangIdConfig()
    assert guess_language("我们用Python写代码，这很有趣。", cfg).lang == "zh"
    assert guess_language("President Bush visited 北京 on Tuesday.", cfg).lang == "en"
    assert guess_language("こんにちは、世界の皆さん。", cfg).lang == "other"
    assert guess_language("$$$ ### 12345 !!! ***", cfg).lang == "other"
    mixed = "长江是亚洲第一长河，流经很多省份和城市。\nThe Yangtze is the longest river in Asia and flows east."
    guess = guess_language(mixed, cfg)
    assert guess.lang == "mixed" and guess.score == 1.0
    parts = split_by_language(mixed, "mixed", cfg)
    assert parts["zh"].startswith("长江") and parts["en"].startswith("The Yangtze")


def test_langid_stage_sets_meta_and_rejects_other():
    records = [{"id": "a", "text": "Привет, как дела? Всё хорошо."}, {"id": "b", "text": "A plain English line."}]
    out = list(LangIdStage().run(iter(records), SHARD))
    assert out[0]["reject_reason"] == "langid:other"
    assert out[1]["meta"]["lang"] == "en" and out[1]["meta"]["lang_score"] == 1.0
