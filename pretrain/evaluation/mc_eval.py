"""Few-shot multiple-choice evaluation over a benchmark directory: per-subject and average accuracy.

Accuracy is reported per scoring method (see mc_scoring): `average` is the mean over subjects (C-Eval's and
MMLU's headline number), `micro` the fraction of all items. Beside each subject the table shows the mean number of
shots its prompts kept and how many items' letter prompts lost their oldest tokens (`truncated`), so a context too
short for the benchmark shows where it changed the prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from pretrain.evaluation.mc_data import McBenchmark
from pretrain.evaluation.mc_scoring import METHODS, LogitsFn, Tokenizer, score_item


@dataclass
class SubjectResult:
    subject: str
    layout: str
    split: str
    items: int
    correct: dict[str, int]
    mean_shots: float
    truncated: int  # items whose letter prompt lost its oldest tokens
    options_cut: int = 0  # items where an option-text row (only) lost its oldest tokens

    def accuracy(self, method: str) -> float:
        return self.correct[method] / self.items if self.items else 0.0


@dataclass
class McResults:
    subjects: list[SubjectResult]
    rejected_rows: dict[str, int] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def average(self, method: str) -> float:
        scored = [s for s in self.subjects if s.items]
        return sum(s.accuracy(method) for s in scored) / len(scored) if scored else 0.0

    def micro(self, method: str) -> float:
        items = sum(s.items for s in self.subjects)
        return sum(s.correct[method] for s in self.subjects) / items if items else 0.0

    def to_json(self) -> dict:
        return {
            "settings": self.settings,
            "average": {m: self.average(m) for m in METHODS},
            "micro": {m: self.micro(m) for m in METHODS},
            "items": sum(s.items for s in self.subjects),
            "subjects": [asdict(s) | {"accuracy": {m: s.accuracy(m) for m in METHODS}} for s in self.subjects],
            "rejected_rows": self.rejected_rows,
        }

    def table(self) -> str:
        width = max([len("subject")] + [len(s.subject) for s in self.subjects])
        head = (f"{'subject':<{width}}  {'layout':<6} {'split':<5} {'items':>6} {'mean_shots':>10} {'truncated':>9} "
                + " ".join(f"{m:>11}" for m in METHODS))
        lines = [head, "-" * len(head)]
        for s in self.subjects:
            lines.append(f"{s.subject:<{width}}  {s.layout:<6} {s.split:<5} {s.items:>6} {s.mean_shots:>10.2f} "
                         f"{s.truncated:>9} " + " ".join(f"{s.accuracy(m):>11.2%}" for m in METHODS))
        lines.append("-" * len(head))
        items = sum(s.items for s in self.subjects)
        truncated = sum(s.truncated for s in self.subjects)
        lines.append(f"{'average (subjects)':<{width}}  {'':<6} {'':<5} {items:>6} {'':>10} {truncated:>9} "
                     + " ".join(f"{self.average(m):>11.2%}" for m in METHODS))
        lines.append(f"{'micro (items)':<{width}}  {'':<6} {'':<5} {items:>6} {'':>10} {'':>9} "
                     + " ".join(f"{self.micro(m):>11.2%}" for m in METHODS))
        if self.rejected_rows:
            lines.append("rejected rows: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rejected_rows.items())))
        return "\n".join(lines)


def evaluate_multiple_choice(model: LogitsFn, tokenizer: Tokenizer, benchmark: McBenchmark, *, shots: int,
                             max_len: int, split: str = "auto", max_items: int = 0, prefix: Sequence[int] = (),
                             device="cpu") -> McResults:
    """Score every subject's evaluation split with `shots` dev items as examples (`max_items` > 0 caps items)."""
    results = []
    for name in sorted(benchmark.subjects):
        subject = benchmark.subjects[name]
        used_split, items = benchmark.eval_items(subject, split)
        if max_items > 0:
            items = items[:max_items]
        examples = subject.splits.get("dev", [])[:shots]
        correct = dict.fromkeys(METHODS, 0)
        shots_used = truncated = options_cut = 0
        for item in items:
            score = score_item(model, tokenizer, subject.layout, subject.title, examples, item, max_len, prefix, device)
            for method in METHODS:
                correct[method] += score.correct(method)
            shots_used += score.shots
            truncated += score.truncated
            options_cut += score.options_cut
        results.append(SubjectResult(name, subject.layout, used_split, len(items), correct,
                                     shots_used / len(items) if items else 0.0, truncated, options_cut))
    settings = {"shots": shots, "split": split, "max_items": max_items, "max_len": max_len}
    return McResults(results, dict(sorted(benchmark.rejected.items())), settings)
