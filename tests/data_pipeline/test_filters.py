"""Each document filter rejects its kind of junk, keeps clean zh/en prose, and stores re-judgeable signals."""

import pytest

from data_pipeline.config import compose_pipeline_config
from data_pipeline.filters import build_document_filters, build_line_cleaner
from data_pipeline.langid import LangIdStage
from data_pipeline.stage import ShardInfo

SHARD = ShardInfo(0, 1, "00000")


@pytest.fixture(scope="module")
def cfg():
    return compose_pipeline_config(["output.dir=unused"])


def judge(cfg, text):
    """The reject reason the langid + document filters + line cleaner give `text` (None = kept)."""
    records = list(LangIdStage(cfg.langid).run(iter([{"id": "x", "text": text}]), SHARD))
    for stage in [*build_document_filters(cfg.filters, cfg.langid), build_line_cleaner(cfg.filters, cfg.langid)]:
        records = list(stage.run(iter(records), SHARD))
        if "reject_reason" in records[0]:
            break
    return records[0].get("reject_reason"), records[0]


def test_clean_zh_and_en_prose_is_kept(cfg, clean_records):
    for record in clean_records:
        reason, _ = judge(cfg, record["text"])
        assert reason is None, (record["id"], reason)


ZH_PROSE = "长江是亚洲第一长河，全长约六千三百公里，流经青海、西藏和四川等地。长江流域是中国经济最发达的地区之一。"
EN_PROSE = ("The river flows slowly through the valley, and the farmers who live along its banks have used its "
            "water for centuries to grow their crops and feed their animals.")


@pytest.mark.parametrize("text, reason", [
    ("太短了。", "length:too_short"),
    ("Too short to keep.", "length:too_short"),
    ("$$$ +++ === ^^^ ~~~ |||" * 8 + EN_PROSE, "char_ratios:symbol_ratio"),
    ("Visit http://spam.example.com/buy/now/cheap/pills/today/offer and https://www.example.org/a/very/long/"
     "path/to/nowhere/at/all/here for deals " + "now " * 20, "char_ratios:url_ratio"),
    (" ".join(["zxq", "vvk", "bbr", "kkt"] * 20) + ".", "gopher_quality:stop_words"),
    ("\n".join([EN_PROSE] * 5), "gopher_repetition:dup_line_frac"),
    ("\n".join([ZH_PROSE] * 5), "gopher_repetition:dup_line_frac"),
    ("\n".join(" ".join(EN_PROSE.split()[i:i + 4]) for i in range(0, 24, 3)) + "\n" + EN_PROSE[:-1],
     "punctuation:terminal_punct"),
    (EN_PROSE + " Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
     "boilerplate:placeholder_text"),
    ("六合彩，时时彩，娱乐城，百家乐，真人视频。" + ZH_PROSE, "flagged_words:flagged_ratio"),
    ("We sell casino chips, porn, viagra and escort services. " + EN_PROSE, "flagged_words:flagged_ratio"),
])
def test_each_rule_fires_on_its_junk(cfg, text, reason):
    assert judge(cfg, text)[0] == reason


def test_zh_allowlist_keeps_innocent_matches(cfg):
    text = "成人教育是终身学习的一部分，很多人长大成人以后还会参加成人高考。" + ZH_PROSE
    assert judge(cfg, text)[0] is None


def test_mixed_document_is_judged_per_language_part(cfg):
    # The zh part is fine; the en part is a repeated line, which the en thresholds reject.
    text = ZH_PROSE + "\n" + "\n".join(["Buy now and save big on every order today."] * 6)
    reason, record = judge(cfg, text)
    assert record["meta"]["lang"] == "mixed"
    assert reason == "gopher_repetition:dup_line_frac"
    assert set(record["meta"]["gopher_repetition"]) == {"zh", "en"}


def test_signals_are_stored_and_thresholds_reapply_without_recompute(cfg):
    [stage] = [s for s in build_document_filters(cfg.filters, cfg.langid) if s.name == "gopher_quality"]
    records = list(LangIdStage(cfg.langid).run(iter([{"id": "x", "text": EN_PROSE}]), SHARD))
    [record] = list(stage.run(iter(records), SHARD))
    assert "reject_reason" not in record and record["meta"]["gopher_quality"]["en"]["stop_words"] >= 2
    stage.thresholds["en"].min_stop_words = 50  # a stricter threshold, re-applied to the stored signals
    assert stage.rejudge(record) == "stop_words"


def test_line_cleaner_drops_boilerplate_lines_and_keeps_prose(cfg):
    other = "围棋是一种两人对弈的策略型棋类游戏，起源于中国，至今已有四千多年的历史，在日本和韩国也非常流行。"
    third = "茶是中国人日常生活中不可缺少的饮品，中国的茶叶种类很多，有绿茶、红茶、乌龙茶和白茶等。"
    text = "首页 | 新闻 | 联系我们\n" + ZH_PROSE + "\n" + third + "\n版权所有 2024\n※ → ☆\n" + other + "\n" + third[::-1]
    reason, record = judge(cfg, text)
    assert reason is None
    assert record["text"] == ZH_PROSE + "\n" + third + "\n" + other + "\n" + third[::-1]
    assert record["meta"]["lines_dropped"] == {"boilerplate": 2, "symbols": 1}


def test_line_cleaner_rejects_when_too_little_is_left_and_keeps_original_text(cfg):
    cleaner = build_line_cleaner(cfg.filters, cfg.langid)
    text = "Home\nAbout\nCareers\nClick here to subscribe\nOk."
    [record] = list(cleaner.run(iter([{"id": "x", "text": text, "meta": {"lang": "en"}}]), SHARD))
    assert record["reject_reason"] == "line_clean:too_little_left" and record["text"] == text
