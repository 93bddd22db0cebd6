"""Train the quality model: positives (clean text) vs negatives (heuristic rejects + generated junk).

Documents are normalized like the pipeline does, assigned zh/en by the script language id, split into train
and held-out parts by a hash of their id (stable across runs), and one model per language is fitted on the
train part. The held-out AUC (overall, and against heuristic rejects alone) is stored in the model file.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from data_pipeline.errors import UserError
from data_pipeline.langid.script import EN, ZH, LangIdConfig, guess_language
from data_pipeline.normalize.stage import NormalizeConfig, normalize_text
from data_pipeline.quality.features import FeatureSpec, featurize
from data_pipeline.quality.junk import generate_junk
from data_pipeline.quality.metrics import roc_auc
from data_pipeline.quality.model import LANGS, QualityModel, SparseBatch, sigmoid, train_logistic
from data_pipeline.readers import read_input_records
from data_pipeline.stage import REJECT_REASON


@dataclass
class TrainConfig:
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    out: str = "quality_model.npz"
    junk_per_lang: int = 1000  # generated junk negatives per language, from the positives' sentences
    holdout: float = 0.2
    seed: int = 0
    epochs: int = 100
    bits: int = 18


@dataclass
class Example:
    id: str
    text: str
    lang: str
    label: int
    origin: str  # positive | rejected | junk


def _read_texts(paths: list[str]) -> list[tuple[str, str]]:
    if not paths:
        return []
    return [(r["id"], r["text"]) for r in read_input_records(paths) if REJECT_REASON not in r]


def _language(text: str, langid: LangIdConfig) -> str | None:
    guess = guess_language(text, langid)
    if guess.lang in (ZH, EN):
        return guess.lang
    if guess.lang == "mixed":
        return ZH if guess.votes[ZH] >= guess.votes[EN] else EN
    return None  # other scripts / symbol soup: the heuristics' job, not the model's


def collect_examples(cfg: TrainConfig) -> list[Example]:
    normalize, langid = NormalizeConfig(), LangIdConfig()
    examples: list[Example] = []
    for paths, label, origin in ((cfg.positive, 1, "positive"), (cfg.negative, 0, "rejected")):
        for record_id, text in _read_texts(paths):
            text = normalize_text(text, normalize)
            lang = _language(text, langid)
            if lang and text:
                examples.append(Example(record_id, text, lang, label, origin))
    for lang in LANGS:
        clean = [e.text for e in examples if e.lang == lang and e.label == 1]
        if clean and cfg.junk_per_lang:
            for junk in generate_junk(clean, lang, cfg.junk_per_lang, seed=cfg.seed + 1):
                text = normalize_text(junk["text"], normalize)
                if text and _language(text, langid) is not None:
                    examples.append(Example(junk["id"], text, lang, 0, "junk"))
    return examples


def suggested_threshold(scores: np.ndarray, labels: np.ndarray, keep: float = 0.99) -> float:
    """The score that keeps `keep` of the held-out good documents (retention first).

    The class-balanced logistic loss ranks well but is not calibrated to 0.5, and training scores are
    optimistic, so the cut is read off unseen positives. It is not set between the classes: part of the
    negatives (real sentences repeated, boilerplate made of real words) look fluent to an n-gram model and
    are the heuristics' job; the model's job is the fluent-looking junk (word salad, mojibake, spam)
    that scores far below any good text. 0.5 when the held-out part has no positive.
    """
    good = scores[labels == 1]
    if len(good) == 0:
        return 0.5
    return round(float(np.percentile(good, 100 * (1 - keep))), 4)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Held-out AUC rounded for the report; None (JSON null) when a class is missing."""
    auc = roc_auc(labels, scores)
    return None if np.isnan(auc) else round(auc, 4)


def is_held_out(example_id: str, holdout: float) -> bool:
    return zlib.crc32(example_id.encode("utf-8")) % 10_000 < holdout * 10_000


def train_quality_model(cfg: TrainConfig) -> QualityModel:
    if not cfg.positive:
        raise UserError("no positive text given", "pass --positive clean.jsonl [more files]")
    started = time.perf_counter()
    spec = FeatureSpec(bits=cfg.bits)
    model = QualityModel(spec)
    examples = collect_examples(cfg)
    for lang in LANGS:
        subset = [e for e in examples if e.lang == lang]
        labels = np.array([e.label for e in subset])
        if labels.sum() == 0 or labels.sum() == len(labels):
            continue  # a language needs both classes to get a model
        features = [featurize(e.text, lang, spec) for e in subset]
        test = np.array([is_held_out(e.id, cfg.holdout) for e in subset])
        train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
        weights, bias = train_logistic(SparseBatch.build([features[i] for i in train_idx]), labels[train_idx],
                                       1 << spec.bits, epochs=cfg.epochs)
        model.weights[lang], model.bias[lang] = weights, bias
        scores = SparseBatch.build([features[i] for i in test_idx]).dot(weights) + bias
        test_labels = labels[test_idx]
        origins = np.array([subset[i].origin for i in test_idx])
        vs_rejects = (origins != "junk")
        model.metrics[lang] = {
            "train_docs": int(len(train_idx)), "heldout_docs": int(len(test_idx)),
            "heldout_positive": int(test_labels.sum()), "heldout_negative": int(len(test_idx) - test_labels.sum()),
            "suggested_threshold": suggested_threshold(sigmoid(scores), test_labels),
            "heldout_auc": _auc(test_labels, scores),
            "heldout_auc_vs_heuristic_rejects": _auc(test_labels[vs_rejects], scores[vs_rejects]),
            "heldout_auc_vs_generated_junk": _auc(test_labels[origins != "rejected"], scores[origins != "rejected"]),
        }
    if not model.weights:
        raise UserError("no language has both positive and negative examples",
                        "give zh or en positives, and negatives or --junk-per-lang > 0")
    model.metrics["train_seconds"] = round(time.perf_counter() - started, 2)
    model.save(cfg.out)
    return model
