"""Few-shot prompts in each benchmark's own wording (C-Eval's and CMMLU's Chinese, MMLU's English).

A prompt is the header, `shots` solved dev questions, then the question with its options and the answer cue
("答案：" / "Answer:"); the model's next token is read as its answer. What follows the cue is the
*continuation*: the letter (" A" after MMLU's colon, "A" after the Chinese full-width colon) or, for full-option
scoring, the option's text.
"""

from __future__ import annotations

from dataclasses import dataclass

from pretrain.evaluation.mc_data import LETTERS, McItem


@dataclass(frozen=True)
class PromptTemplate:
    header: str  # formatted with {subject}
    question: str  # formatted with {question}
    answer_cue: str
    separator: str  # between the cue and what follows it

    def body(self, item: McItem) -> str:
        options = "".join(f"{letter}. {text}\n" for letter, text in zip(LETTERS, item.options))
        return self.question.format(question=item.question) + options + self.answer_cue

    def solved(self, item: McItem) -> str:
        return self.body(item) + self.separator + item.answer + "\n\n"


TEMPLATES = {
    # C-Eval's official few-shot wording (also what Baichuan's evaluation script uses).
    "ceval": PromptTemplate("以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n", "{question}\n", "答案：", ""),
    "cmmlu": PromptTemplate("以下是关于{subject}的单项选择题，请直接给出正确答案的选项。\n\n", "题目：{question}\n", "答案是：", ""),
    # Hendrycks et al.'s MMLU prompt.
    "mmlu": PromptTemplate(
        "The following are multiple choice questions (with answers) about {subject}.\n\n", "{question}\n", "Answer:", " "
    ),
}


def build_prompt(layout: str, subject: str, shots: list[McItem], item: McItem, header: bool = True) -> str:
    """Header + solved shots + the question up to the answer cue (no trailing separator)."""
    template = TEMPLATES[layout]
    start = template.header.format(subject=subject) if header else ""
    return start + "".join(template.solved(s) for s in shots) + template.body(item)


def cmmlu_prompt(subject: str, shots: list[McItem], item: McItem, encode, budget: int) -> tuple[str, int]:
    """(prompt, shots kept) exactly as CMMLU's `gen_prompt` (src/mp_utils.py) fits a prompt into `budget` tokens.

    Each part is measured alone, as gen_prompt does: with `start_end` the header's and the question's tokens, a
    prompt whose start_end exceeds the budget is the question alone (no header, no shot); else, while the shots
    take `budget - start_end` tokens or more, every shot of the longest length is dropped, the rest kept in order.
    The budget bounds the letter prompt only: what the option-text rows add never costs a shot."""
    template = TEMPLATES["cmmlu"]
    header, end = template.header.format(subject=subject), template.body(item)
    start_end = len(encode(header)) + len(encode(end))
    if start_end > budget:
        return end, 0
    kept = [(shot, len(encode(template.solved(shot)))) for shot in shots]
    while kept and sum(n for _, n in kept) >= budget - start_end:
        longest = max(n for _, n in kept)
        kept = [(shot, n) for shot, n in kept if n != longest]
    return build_prompt("cmmlu", subject, [shot for shot, _ in kept], item), len(kept)


def continuations(layout: str, item: McItem) -> tuple[list[str], list[str]]:
    """(letter continuations, option-text continuations) after the answer cue, in A-D order."""
    separator = TEMPLATES[layout].separator
    return [separator + letter for letter in LETTERS], [separator + text for text in item.options]
