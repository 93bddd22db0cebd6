"""Generate near-duplicates of real documents with known kinds of edits, for tests, evaluation and
benchmarks: token substitutions, insertions and deletions at a given rate (characters for Chinese, words
for English), and sentence reordering. The edited copy is rebuilt from tokens, which changes neither its
shingles' case nor its punctuation-free shingle content except where edited."""

from __future__ import annotations

import random

from data_pipeline.dedup.text import is_cjk_char, sentence_spans, shingle_tokens

EDIT_RATES = (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.35)


def edit_tokens(tokens: list[str], rate: float, rng: random.Random) -> list[str]:
    """Substitute, insert or delete (equally likely) about `rate` of the tokens."""
    if not tokens:
        return tokens
    out: list[str] = []
    for token in tokens:
        if rng.random() >= rate:
            out.append(token)
            continue
        kind = rng.randrange(3)
        if kind == 0:
            out.append(rng.choice(tokens))
        elif kind == 1:
            out.extend((token, rng.choice(tokens)))
        # kind == 2: deleted
    return out


def near_duplicate(text: str, rate: float, reorder: bool, rng: random.Random) -> str:
    if reorder:
        spans = sentence_spans(text)
        if len(spans) > 1:  # swap two sentences
            i, j = rng.sample(range(len(spans)), 2)
            parts = [text[s:e] for s, e in spans]
            parts[i], parts[j] = parts[j], parts[i]
            text = "".join(parts)
    return join_tokens(edit_tokens(shingle_tokens(text), rate, rng))


def join_tokens(tokens: list[str]) -> str:
    """Text whose shingle tokens are `tokens`: CJK characters abut, anything next to a word gets a space."""
    parts: list[str] = []
    for i, token in enumerate(tokens):
        if i and not (is_cjk_char(token) and is_cjk_char(tokens[i - 1])):
            parts.append(" ")
        parts.append(token)
    return "".join(parts)


def with_near_duplicates(records: list[dict], variants_per_doc: int, seed: int,
                         rates: tuple[float, ...] = EDIT_RATES) -> list[dict]:
    """The records plus `variants_per_doc` edited copies of each (id `<id>~v<k>`), shuffled."""
    rng = random.Random(seed)
    out = [dict(r) for r in records]
    for record in records:
        for k in range(variants_per_doc):
            text = near_duplicate(record["text"], rng.choice(rates), rng.random() < 0.3, rng)
            out.append({**record, "id": f"{record['id']}~v{k}", "text": text})
    rng.shuffle(out)
    return out
