"""Multiple choice: the three CSV layouts, the 5-shot prompt, and scoring checked with forced answers."""

from __future__ import annotations

import json

import pytest

from pretrain.evaluation import evaluate_multiple_choice, load_benchmark, score_item
from pretrain.evaluation.mc_data import McItem
from pretrain.evaluation.mc_prompt import build_prompt
from tests.evaluation.conftest import EN_ITEMS, ZH_ITEMS, CharTokenizer, ForcedModel

EXPECTED_ITEMS = {"ceval": ZH_ITEMS, "cmmlu": ZH_ITEMS, "mmlu": EN_ITEMS}
SUBJECTS = {"ceval": "high_school_physics", "cmmlu": "chinese_history", "mmlu": "astronomy"}


@pytest.mark.parametrize("layout", ["ceval", "cmmlu", "mmlu"])
def test_layouts_read_items_splits_and_rejections(benchmarks, layout):
    bench = load_benchmark(benchmarks[layout])
    assert list(bench.subjects) == [SUBJECTS[layout]]
    subject = bench.subjects[SUBJECTS[layout]]
    assert subject.layout == layout
    assert len(subject.splits["dev"]) == 5
    split, items = bench.eval_items(subject, "auto")
    assert split == ("val" if layout == "ceval" else "test")
    assert [(i.question, *i.options, i.answer) for i in items] == [tuple(row) for row in EXPECTED_ITEMS[layout]]
    expected_rejections = {
        "ceval": {"answer_not_a_to_d": 1, "no_answer": len(ZH_ITEMS)},
        "cmmlu": {},
        "mmlu": {"too_few_columns": 1},
    }[layout]
    assert dict(bench.rejected) == expected_rejections


def test_five_shot_prompt_holds_the_shots_and_ends_at_the_cue(benchmarks):
    subject = load_benchmark(benchmarks["mmlu"]).subjects["astronomy"]
    item = McItem("Q?", ("a", "b", "c", "d"), "A")
    prompt = build_prompt("mmlu", subject.title, subject.splits["dev"][:5], item)
    assert prompt.startswith("The following are multiple choice questions (with answers) about astronomy.\n\n")
    assert prompt.count("Answer:") == 6
    assert [f"Answer: {s.answer}\n\n" in prompt for s in subject.splits["dev"][:5]] == [True] * 5
    assert prompt.endswith("Q?\nA. a\nB. b\nC. c\nD. d\nAnswer:")
    zh = build_prompt("ceval", "高中物理", [], McItem("问？", ("一", "二", "三", "四"), "C"))
    assert zh == "以下是中国关于高中物理考试的单项选择题，请选出其中的正确答案。\n\n问？\nA. 一\nB. 二\nC. 三\nD. 四\n答案："


@pytest.mark.parametrize("layout", ["ceval", "cmmlu", "mmlu"])
@pytest.mark.parametrize("forced", ["B", "C"])
def test_letter_scoring_follows_the_forced_letter(benchmarks, layout, forced):
    tokenizer = CharTokenizer()
    model = ForcedModel(tokenizer.encode(forced)[0])
    results = evaluate_multiple_choice(model, tokenizer, load_benchmark(benchmarks[layout]), shots=5, max_len=4096)
    [subject] = results.subjects
    answers = [row[5] for row in EXPECTED_ITEMS[layout]]
    assert subject.items == len(answers)
    assert subject.correct["letter"] == answers.count(forced)
    assert results.average("letter") == pytest.approx(answers.count(forced) / len(answers))
    assert subject.mean_shots == 5 and subject.truncated == 0


def test_option_scoring_picks_the_option_the_model_writes():
    tokenizer = CharTokenizer()
    model = ForcedModel(tokenizer.encode("x")[0])
    item = McItem("Pick the vowel.", ("b", "c", "xx", "d"), "C")
    score = score_item(model, tokenizer, "mmlu", "astronomy", [], item, max_len=4096)
    assert score.predictions["option"] == "C" and score.predictions["option_norm"] == "C"
    assert score.correct("option")
    # The model never writes a letter, so its letter answer is not C's by preference: every letter ties, A wins.
    assert score.predictions["letter"] == "A"


def test_long_prompts_lose_shots_then_tokens(benchmarks):
    bench = load_benchmark(benchmarks["mmlu"])
    subject = bench.subjects["astronomy"]
    tokenizer = CharTokenizer()
    model = ForcedModel(tokenizer.encode("B")[0])
    item = subject.splits["test"][0]
    full = len(tokenizer.encode(build_prompt("mmlu", subject.title, subject.splits["dev"], item)))
    one_shot = len(tokenizer.encode(build_prompt("mmlu", subject.title, subject.splits["dev"][:1], item)))
    fewer = score_item(model, tokenizer, "mmlu", subject.title, subject.splits["dev"], item, max_len=one_shot + 10)
    assert fewer.shots == 1 and not fewer.truncated and full > one_shot + 10
    cut = score_item(model, tokenizer, "mmlu", subject.title, subject.splits["dev"], item, max_len=20)
    assert cut.shots == 0 and cut.truncated
    assert cut.predictions["letter"] == "B"


def test_results_json_and_table(benchmarks):
    tokenizer = CharTokenizer()
    model = ForcedModel(tokenizer.encode("B")[0])
    bench = load_benchmark(benchmarks["ceval"].parent)  # all three benchmarks in one directory tree
    results = evaluate_multiple_choice(model, tokenizer, bench, shots=2, max_len=4096, max_items=3)
    data = json.loads(json.dumps(results.to_json()))
    assert [s["subject"] for s in data["subjects"]] == ["astronomy", "chinese_history", "high_school_physics"]
    assert data["items"] == 9
    per_subject = [s["accuracy"]["letter"] for s in data["subjects"]]
    assert data["average"]["letter"] == pytest.approx(sum(per_subject) / 3)
    assert data["micro"]["letter"] == pytest.approx(sum(s["correct"]["letter"] for s in data["subjects"]) / 9)
    table = results.table()
    assert "average (subjects)" in table and "high_school_physics" in table
    assert data["rejected_rows"] == {"answer_not_a_to_d": 1, "no_answer": 4, "too_few_columns": 1}


def test_bad_bytes_and_oversized_cells_cost_their_row_only(tmp_path):
    path = tmp_path / "astronomy_test.csv"
    path.write_bytes(b"Q1,a,b,c,d,A\n"
                     b"Q\xff2,a,b,c,d,B\n"  # not UTF-8: used to raise UnicodeDecodeError for the whole file
                     + b"x" * 200_000 + b",a,b,c,d,C\n"  # over csv's 128 KiB field limit: used to raise csv.Error
                     b"Q4,a,b,c,d,D\r\n")
    bench = load_benchmark(tmp_path)
    assert [i.question for i in bench.subjects["astronomy"].splits["test"]] == ["Q1", "Q4"]
    assert dict(bench.rejected) == {"invalid_text": 1, "field_too_long": 1}


def test_an_unknown_subject_is_named_with_the_closest_ones(benchmarks):
    from plumbing.user_error import UserError

    with pytest.raises(UserError) as error:
        load_benchmark(benchmarks["cmmlu"], ["chinese_histroy"])
    assert "'chinese_histroy' (closest: chinese_history)" in str(error.value)
    assert list(load_benchmark(benchmarks["cmmlu"], ["chinese_history"]).subjects) == ["chinese_history"]
