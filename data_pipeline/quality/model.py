"""A hashed-feature logistic regression per language (zh, en), trained full-batch with Adam in numpy.

Why this model (see docs/quality_model.md): it trains in seconds on CPU with no extra dependency, scores
thousands of documents per second, and its n-gram features carry the signal that separates fluent text from
junk (function-word patterns, punctuation, mojibake) in both languages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_pipeline.quality.features import FeatureSpec, featurize
from plumbing.atomic_write import atomic_open

LANGS = ("zh", "en")


@dataclass
class SparseBatch:
    """Documents as one flat (indices, values) pair plus offsets: vectorised dot products and gradients."""

    indices: np.ndarray
    values: np.ndarray
    doc_of: np.ndarray  # document number of each nonzero
    count: int

    @classmethod
    def build(cls, docs: list[tuple[np.ndarray, np.ndarray]]) -> SparseBatch:
        lengths = np.array([len(i) for i, _ in docs], dtype=np.int64)
        indices = np.concatenate([i for i, _ in docs]) if docs else np.zeros(0, np.int64)
        values = np.concatenate([v for _, v in docs]) if docs else np.zeros(0, np.float32)
        return cls(indices, values, np.repeat(np.arange(len(docs)), lengths), len(docs))

    def dot(self, weights: np.ndarray) -> np.ndarray:
        return np.bincount(self.doc_of, weights=weights[self.indices] * self.values, minlength=self.count)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def train_logistic(batch: SparseBatch, labels: np.ndarray, dim: int, epochs: int = 150, lr: float = 0.05,
                   l2: float = 1e-5) -> tuple[np.ndarray, float]:
    """Full-batch Adam on the class-balanced logistic loss; returns (weights, bias)."""
    weights = np.zeros(dim, dtype=np.float64)
    bias = 0.0
    positives = max(labels.sum(), 1)
    negatives = max(len(labels) - labels.sum(), 1)
    sample_weight = np.where(labels == 1, 0.5 / positives, 0.5 / negatives)
    m, v = np.zeros(dim), np.zeros(dim)
    mb = vb = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        error = (sigmoid(batch.dot(weights) + bias) - labels) * sample_weight
        grad = np.bincount(batch.indices, weights=error[batch.doc_of] * batch.values, minlength=dim)
        grad += l2 * weights
        grad_b = error.sum()
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        mb = beta1 * mb + (1 - beta1) * grad_b
        vb = beta2 * vb + (1 - beta2) * grad_b * grad_b
        correction = np.sqrt(1 - beta2**step) / (1 - beta1**step)
        weights -= lr * correction * m / (np.sqrt(v) + eps)
        bias -= lr * correction * mb / (np.sqrt(vb) + eps)
    return weights.astype(np.float32), float(bias)


@dataclass
class QualityModel:
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    bias: dict[str, float] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def score(self, text: str, lang: str) -> float:
        """P(good) in [0, 1]; a language without a model scores with the other language's."""
        lang = lang if lang in self.weights else next(iter(self.weights))
        slots, values = featurize(text, lang, self.spec)
        z = float(self.weights[lang][slots] @ values) + self.bias[lang]
        return float(sigmoid(np.array(z)))

    def suggested_threshold(self, lang: str) -> float:
        """The trainer's cut for `lang` (0.5 when the model file has none)."""
        return float(self.metrics.get(lang, {}).get("suggested_threshold", 0.5))

    def save(self, path: str | Path) -> None:
        header = {"spec": self.spec.to_dict(), "bias": self.bias, "metrics": self.metrics, "format": 1}
        arrays = {f"weights_{lang}": w for lang, w in self.weights.items()}
        with atomic_open(path, "wb") as fh:
            np.savez_compressed(fh, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> QualityModel:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            weights = {key[len("weights_"):]: data[key] for key in data.files if key.startswith("weights_")}
        return cls(FeatureSpec.from_dict(header["spec"]), weights, header["bias"], header.get("metrics", {}))
