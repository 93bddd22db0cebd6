"""Real CMMLU: its files read as they are, prompts byte-equal to CMMLU's own `gen_prompt`/`format_example`,
its shot dropping, and letter scoring against the real answers.

The pinned prompt uses a 3-question excerpt of the real files kept in tests/fixtures/cmmlu_excerpt (licence in
its README), so it runs anywhere; the tests over all 67 subjects read `../shared/data/eval/cmmlu/` and skip
without it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pretrain.evaluation import evaluate_multiple_choice, load_benchmark, score_item
from pretrain.evaluation.cmmlu_subjects import CMMLU_SUBJECT_NAMES
from pretrain.evaluation.mc_prompt import TEMPLATES, build_prompt, cmmlu_prompt
from tests.evaluation.conftest import CharTokenizer, ForcedModel

REPO = Path(__file__).resolve().parents[2]
EXCERPT = REPO / "tests" / "fixtures" / "cmmlu_excerpt"
REAL = REPO.parent / "shared" / "data" / "eval" / "cmmlu"


class WideForcedModel(ForcedModel):
    """ForcedModel with room for every character of a few real subjects."""

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*input_ids.shape, int(input_ids.max()) + 1 if input_ids.numel() else 1)
        logits[..., self.token] = self.strength
        return logits


needs_real = pytest.mark.skipif(not (REAL / "test").is_dir(), reason="../shared/data/eval/cmmlu is not here")

# What CMMLU's src/mp_utils.py builds for test question 0 of elementary_mathematics with 5 dev shots: the header
# with the subject's Chinese name, then per shot "题目：Q\nA. a\n…D. d\n答案是：X\n\n", then the question up to
# "答案是：". The cells' trailing spaces ("0.2÷0.5 ") stay, as pandas keeps them.
PINNED_PROMPT = (
    "以下是关于初等数学的单项选择题，请直接给出正确答案的选项。\n\n"
    "题目：下列算式中，结果与 不相等的是\nA. 0.2÷0.5 \nB. 4÷10\nC. 16÷40 \nD. 20÷500 \n答案是：D\n\n"
    "题目：集合A={1，2,3, 4}的真⼦集个数为\nA. 14\nB. 10\nC. 11\nD. 15\n答案是：D\n\n"
    "题目：当X=[ ]时，5X-9=51\nA. 60\nB. 8.4\nC. 12\nD. 1\n答案是：C\n\n"
    "题目：下⾯的数与0最接近的⼀个数是\nA. -1\nB. -5\nC. +5\nD. +2\n答案是：A\n\n"
    "题目：做⼀个圆柱形通⻛管要⽤多少铁⽪是求\nA. 表⾯积\nB. 底⾯积 \nC. 体积 \nD. 侧⾯积 \n答案是：D\n\n"
    "题目：在某校班际篮球联赛中，每场⽐赛都要分出胜负，每队胜⼀场得3分，负⼀场得1分，如果某班要在第⼀轮的28场⽐赛中⾄少得43分，"
    "那么这个班⾄少要胜多少场\nA. 6\nB. 5\nC. 7\nD. 8\n答案是："
)


def test_five_shot_prompt_of_a_real_question_is_cmmlus_text():
    subject = load_benchmark(EXCERPT).subjects["elementary_mathematics"]
    assert subject.layout == "cmmlu" and subject.title == "初等数学"
    question = subject.splits["test"][0]
    assert question.answer == "D" and len(subject.splits["dev"]) == 5
    assert build_prompt("cmmlu", subject.title, subject.splits["dev"][:5], question) == PINNED_PROMPT


@needs_real
def test_excerpt_is_byte_identical_to_the_real_files():
    assert (EXCERPT / "dev" / "elementary_mathematics.csv").read_bytes() == \
        (REAL / "dev" / "elementary_mathematics.csv").read_bytes()
    excerpt = (EXCERPT / "test" / "elementary_mathematics.csv").read_bytes()
    assert (REAL / "test" / "elementary_mathematics.csv").read_bytes().startswith(excerpt)


@needs_real
def test_real_cmmlu_reads_every_question_with_its_answer():
    bench = load_benchmark(REAL)
    assert len(bench.subjects) == 67 and not bench.rejected
    assert set(bench.subjects) == set(CMMLU_SUBJECT_NAMES)
    assert {s.layout for s in bench.subjects.values()} == {"cmmlu"}
    assert sum(len(s.splits["dev"]) for s in bench.subjects.values()) == 335  # the README's counts
    assert sum(len(s.splits["test"]) for s in bench.subjects.values()) == 11582
    answers = Counter(i.answer for s in bench.subjects.values() for i in s.splits["test"])
    assert set(answers) == set("ABCD") and min(answers.values()) > 2000  # real labels, not a constant


@needs_real
@pytest.mark.parametrize("forced", ["A", "C"])
def test_letter_accuracy_on_real_subjects_equals_the_share_of_that_answer(forced):
    subjects = ["agronomy", "high_school_physics"]
    bench = load_benchmark(REAL, subjects)
    tokenizer = CharTokenizer()
    model = WideForcedModel(tokenizer.encode(forced)[0])
    results = evaluate_multiple_choice(model, tokenizer, bench, shots=5, max_len=4096, max_items=40)
    for result in results.subjects:
        items = bench.subjects[result.subject].splits["test"][:40]
        assert result.items == 40 and result.split == "test" and result.mean_shots == 5
        assert result.correct["letter"] == sum(i.answer == forced for i in items)
    assert "agronomy" in results.table() and "average (subjects)" in results.table()


def gen_prompt(header: str, shots: list[str], prompt_end: str, encode, max_length: int) -> str:
    """CMMLU's src/mp_utils.py `gen_prompt`, transcribed: the reference our prompt fitting must equal."""
    start_end_token_len = len(encode(header) + encode(prompt_end))
    if start_end_token_len > max_length:
        return prompt_end
    prompt_list = [(example, encode(example)) for example in shots]
    while prompt_list != [] and sum(len(e[1]) for e in prompt_list) >= max_length - start_end_token_len:
        longest_length = max([len(e[1]) for e in prompt_list])
        prompt_list = [e for e in prompt_list if len(e[1]) != longest_length]
    return header + "".join(p[0] for p in prompt_list) + prompt_end


def test_cmmlu_drops_the_longest_shot_first_and_keeps_the_order():
    subject = load_benchmark(EXCERPT).subjects["elementary_mathematics"]
    shots, item, encode = subject.splits["dev"], subject.splits["test"][0], CharTokenizer().encode
    template = TEMPLATES["cmmlu"]
    lengths = [len(encode(template.solved(s))) for s in shots]
    four = [s for s, n in zip(shots, lengths) if n != max(lengths)]
    budget = len(encode(build_prompt("cmmlu", subject.title, four, item))) + 1
    assert cmmlu_prompt(subject.title, shots, item, encode, budget) == (build_prompt("cmmlu", subject.title, four,
                                                                                        item), 4)
    # Too small for the header and the question: the question alone, as gen_prompt returns prompt_end.
    assert cmmlu_prompt(subject.title, shots, item, encode, 20) == (template.body(item), 0)


class RecordingModel(ForcedModel):
    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.inputs = input_ids
        return super().__call__(input_ids)


@pytest.mark.parametrize("max_len", [200, 256, 4096])
def test_the_letter_prompt_is_gen_prompts_and_a_long_option_costs_only_its_own_row(max_len):
    """At a small context the letter rows are exactly CMMLU's gen_prompt (budget: the context less the document
    prefix) + the letter, cut only when the question alone does not fit; an option row longer than the context
    changes neither the shots nor the letter rows: that row alone loses its oldest tokens."""
    subject = load_benchmark(EXCERPT).subjects["elementary_mathematics"]
    tokenizer, prefix, template = CharTokenizer(), [2], TEMPLATES["cmmlu"]
    option_bound = 0  # items where only an option row does not fit: the case that used to cost shots
    for item in subject.splits["test"]:
        longer = replace(item, options=(item.options[0], item.options[1] + "，即较长的一段说明文字" * 3, *item.options[2:]))
        for variant in (item, longer):
            expected = gen_prompt(template.header.format(subject=subject.title),
                                  [template.solved(s) for s in subject.splits["dev"]], template.body(variant),
                                  tokenizer.encode, max_len - len(prefix))
            model = RecordingModel(tokenizer.encode("A")[0])
            score = score_item(model, tokenizer, "cmmlu", subject.title, subject.splits["dev"], variant, max_len, prefix)
            letters = [prefix + tokenizer.encode(expected + letter) for letter in "ABCD"]
            options = [prefix + tokenizer.encode(expected + option) for option in variant.options]
            rows = [row[row != 0].tolist() for row in model.inputs]  # CharTokenizer ids start at 3
            assert score.shots == expected.count("答案是：") - 1
            assert rows == [row[-max_len:] for row in letters + options]  # each row cut alone, if at all
            assert score.truncated == (len(letters[0]) > max_len)
            assert score.options_cut == any(len(row) > max_len for row in options)
            option_bound += score.options_cut and not score.truncated
    assert option_bound > 0 or max_len == 4096


def test_the_table_shows_mean_shots_and_truncated_per_subject():
    bench = load_benchmark(EXCERPT)
    tokenizer = CharTokenizer()
    results = evaluate_multiple_choice(ForcedModel(tokenizer.encode("A")[0]), tokenizer, bench, shots=5, max_len=200,
                                       prefix=[2])
    header, _, row = results.table().splitlines()[:3]
    assert header.split()[:6] == ["subject", "layout", "split", "items", "mean_shots", "truncated"]
    subject = results.subjects[0]
    assert row.split()[:6] == ["elementary_mathematics", "cmmlu", "test", str(subject.items),
                               f"{subject.mean_shots:.2f}", str(subject.truncated)]
    assert subject.mean_shots < 5  # 200 tokens hold fewer than five shots
