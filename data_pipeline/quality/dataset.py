"""The quality model's labelled examples: which documents may be positives and negatives, and the held-out split.

Three rules keep the labels honest (docs/quality_model.md, issue 27):

* A negative is junk a *rule* rejected: a heuristic filter or the line cleaner. Dedup rejects are copies of
  kept text, `read`/`langid` rejects are broken input or another language, `length` rejects are short, not bad,
  and `quality` rejects are the model's own output; none of them is a junk label.
* Labels are disjoint: a document whose id or normalized text is a positive is never also a negative (a clean
  document a heuristic rejected is a false rejection, not junk).
* Held-out data comes from other sources than training (whole files), and nothing held out was trained on.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from dataclasses import dataclass

from data_pipeline.errors import UserError
from data_pipeline.filters import DOCUMENT_FILTERS, LineCleaner
from data_pipeline.langid.identify import guess_language
from data_pipeline.langid.script import EN, ZH, LangIdConfig
from data_pipeline.normalize.stage import NormalizeConfig, normalize_text
from data_pipeline.quality.junk import generate_junk
from data_pipeline.quality.model import LANGS
from data_pipeline.readers.source import InputConfig, discover_sources, readable_records, report_unreadable
from data_pipeline.stage import REJECT_REASON

JUNK_LABEL_STAGES = frozenset({cls.name for cls in DOCUMENT_FILTERS if cls.name != "length"} | {LineCleaner.name})
TRAIN, HELDOUT = "train", "heldout"


@dataclass
class Example:
    id: str
    text: str
    lang: str
    label: int
    origin: str  # positive | rejected | junk
    source: str  # the file it came from (junk: the source of the sentences it was built from)
    split: str = TRAIN  # train | heldout

    @property
    def text_key(self) -> str:
        return hashlib.sha1(self.text.encode("utf-8")).hexdigest()


def reject_reason_of(record: dict) -> str | None:
    """Why the pipeline rejected a record read back from OUT/rejected (the reader renames the field)."""
    return record.get(REJECT_REASON) or record.get(f"previous_{REJECT_REASON}")


def is_junk_label(reason: str | None) -> bool:
    return reason is not None and reason.split(":", 1)[0] in JUNK_LABEL_STAGES


def language_of(text: str, langid: LangIdConfig) -> str | None:
    guess = guess_language(text, langid)
    if guess.lang in LANGS:
        return guess.lang
    if guess.lang == "mixed":
        return ZH if guess.votes.get(ZH, 0) >= guess.votes.get(EN, 0) else EN
    return None  # other scripts / symbol soup: the heuristics' job, not the model's


def read_examples(paths: list[str], label: int, split: str, dropped: Counter) -> list[Example]:
    """Examples from files; for negatives only rule rejects (the rest are counted in `dropped`)."""
    normalize, langid = NormalizeConfig(), LangIdConfig()
    out = []
    for source in (discover_sources(InputConfig(paths=list(paths)), announce=True, key="input") if paths else []):
        def unreadable(message: str) -> None:  # a broken file costs its own examples, counted, not the run
            report_unreadable(message)
            dropped["unreadable_file"] += 1

        for record in readable_records(source, unreadable):
            reason = reject_reason_of(record)
            if label == 0 and not is_junk_label(reason):
                dropped[f"negative_not_a_rule_reject:{(reason or 'none').split(':', 1)[0]}"] += 1
                continue
            if label == 1 and reason is not None:
                dropped["positive_rejected_by_reader"] += 1
                continue
            text = normalize_text(record["text"], normalize)
            lang = language_of(text, langid) if text else None
            if lang:
                out.append(Example(record["id"], text, lang, label, "positive" if label else "rejected",
                                   source.location, split))
    return out


def make_disjoint(examples: list[Example], dropped: Counter) -> list[Example]:
    """Drop negatives that are also positives (same id or text), and held-out examples seen in training."""
    positive_keys = {k for e in examples if e.label == 1 for k in (e.id, e.text_key)}
    kept = []
    for e in examples:
        if e.label == 0 and (e.id in positive_keys or e.text_key in positive_keys):
            dropped["negative_also_positive"] += 1
        else:
            kept.append(e)
    train_keys = {k for e in kept if e.split == TRAIN for k in (e.id, e.text_key)}
    out = []
    for e in kept:
        if e.split == HELDOUT and (e.id in train_keys or e.text_key in train_keys):
            dropped["heldout_seen_in_training"] += 1
        else:
            out.append(e)
    return out


def hold_out_a_source(examples: list[Example], holdout: float, min_docs: int = 20) -> dict[str, str]:
    """Without explicit held-out files: per language, the smallest positive source of at least `min_docs`
    documents is held out whole when another source remains for training (a file with a stray document of the
    language is no source of it); otherwise that language's ids are split by hash (same source: optimistic).
    Returns {lang: how the held-out part was chosen}."""
    how = {}
    for lang in LANGS:
        sources = Counter(e.source for e in examples if e.lang == lang and e.label == 1)
        candidates = sorted((n, s) for s, n in sources.items() if n >= min_docs)
        if len(candidates) >= 2:
            held = candidates[0][1]
            for e in examples:
                if e.lang == lang and e.source == held:
                    e.split = HELDOUT
            how[lang] = f"by source: {held}"
        elif sources:
            for e in examples:
                if e.lang == lang and e.label == 1 and is_held_out(e.id, holdout):
                    e.split = HELDOUT
            how[lang] = "by id hash within the training sources (same source: optimistic)"
    return how


def add_junk(examples: list[Example], count: int, seed: int) -> None:
    """Generated junk per language and split, built from that split's positives (held-out junk from sentences
    the model never saw, with another seed)."""
    normalize, langid = NormalizeConfig(), LangIdConfig()
    for split, offset in ((TRAIN, 1), (HELDOUT, 2)):
        for lang in LANGS:
            clean = [e for e in examples if e.lang == lang and e.label == 1 and e.split == split]
            if not clean or not count:
                continue
            source = "junk from " + ", ".join(sorted({e.source for e in clean}))
            for junk in generate_junk([e.text for e in clean], lang, count, seed=seed + offset):
                text = normalize_text(junk["text"], normalize)
                if text and language_of(text, langid) is not None:
                    examples.append(Example(f"{split}/{junk['id']}", text, lang, 0, "junk", source, split))


def is_held_out(example_id: str, fraction: float) -> bool:
    return zlib.crc32(example_id.encode("utf-8")) % 10_000 < fraction * 10_000


def check_sources_apart(train_paths: list[str], heldout_paths: list[str]) -> None:
    def files(paths):
        return {s.location for s in discover_sources(InputConfig(paths=list(paths)), key="input")} if paths else set()

    shared = files(train_paths) & files(heldout_paths)
    if shared:
        raise UserError(f"{sorted(shared)[0]} is both a training and a held-out source",
                        "held-out files must come from other sources than --positive/--negative")
