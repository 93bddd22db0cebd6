"""Quality model: features, the labelled training set (disjoint labels, rule rejects only, held-out sources
apart), training (held-out AUC), save/load, scoring stage and calibrated thresholds, CLI."""

import collections
import json

import numpy as np
import pytest

from data_pipeline.formats.jsonl import read_jsonl
from data_pipeline.quality.__main__ import main as quality_main
from data_pipeline.quality.features import FeatureSpec, featurize
from data_pipeline.quality.junk import GENERATORS, generate_junk
from data_pipeline.quality.metrics import roc_auc
from data_pipeline.quality.model import QualityModel
from data_pipeline.quality.stage import QualityStage
from data_pipeline.quality.train import (
    TrainConfig,
    collect_examples,
    is_held_out,
    suggested_threshold,
    train_quality_model,
)
from data_pipeline.stage import ShardInfo


def test_roc_auc_matches_definition():
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.1, 0.2])) == 1.0
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert roc_auc(np.array([1, 0, 0]), np.array([0.2, 0.9, 0.1])) == 0.5


def test_features_are_normalised_and_language_specific():
    slots, values = featurize("长江是亚洲第一长河。", "zh", FeatureSpec(bits=12))
    assert len(slots) == len(set(slots.tolist())) and np.isclose(np.linalg.norm(values), 1.0)
    assert slots.max() < 4096
    en_slots, _ = featurize("The river flows.", "en", FeatureSpec(bits=12))
    assert set(en_slots.tolist()) != set(slots.tolist())


def test_junk_generator_is_deterministic_and_covers_every_kind(clean_records):
    texts = [r["text"] for r in clean_records]
    first = generate_junk(texts, "zh", 16, seed=3)
    assert first == generate_junk(texts, "zh", 16, seed=3)
    assert {r["junk_kind"] for r in first} == set(GENERATORS)
    assert all(r["text"].strip() for r in first)


def _rejected_like_a_pipeline_run(records: list[dict]) -> list[dict]:
    """What OUT/rejected holds after a run over the positives' own corpus: dedup rejects (copies of kept
    text), rule rejects of clean documents (the same ids as positives), and a few real rule-rejected junk pages.
    The old recipe took all of it as negatives."""
    rejected = [{"id": f"copy/{r['id']}", "text": r["text"], "reject_reason": "minhash_dedup:duplicate"}
                for r in records]
    rejected += [{"id": r["id"], "text": r["text"], "reject_reason": "punctuation:terminal_punct"} for r in records[:20]]
    junk = generate_junk([r["text"] for r in records], "zh", 12, seed=5, kinds=["repeated_lines"])
    rejected += [{"id": f"spam/{i}", "text": j["text"], "reject_reason": "gopher_repetition:dup_line_frac"}
                 for i, j in enumerate(junk)]
    return rejected + [{"id": "x/short", "text": "太短了。", "reject_reason": "length:too_short"}]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus_dir):
    """The documented usage without held-out files: positives = the corpus' clean files, negatives = a run's
    rejects. zh has two sources, so one is held out whole; en (one novel) falls back to an id split."""
    tmp = tmp_path_factory.mktemp("quality")
    positives = [str(corpus_dir / name) for name in ("zh_wiki_cmrc2018.jsonl", "zh_wiki_gsdsimp.jsonl",
                                                     "en_novel_botchan.jsonl")]
    rejected = tmp / "rejected.jsonl"
    rejected.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in
                                  _rejected_like_a_pipeline_run(list(read_jsonl(positives[0])))) + "\n")
    # No more junk than clean documents per language (400 on the full corpus; the shipped sample has 150 zh):
    # a junk-dominated training set costs the zh model ~5 points of held-out AUC on the small sample.
    clean_zh = sum(1 for name in positives[:2] for _ in open(name, encoding="utf-8"))
    cfg = TrainConfig(positive=positives, negative=[str(rejected)], out=str(tmp / "model.npz"),
                      junk_per_lang=min(400, clean_zh))  # CLI defaults otherwise
    return train_quality_model(cfg), tmp / "model.npz", cfg


@pytest.mark.slow
def test_training_reaches_heldout_auc_and_roundtrips(trained):
    """The old recipe (all rejects as negatives, id split) scored 0.22 zh held-out AUC on this input."""
    model, path, _ = trained
    assert model.metrics["zh"]["heldout_split"].startswith("by source")
    for lang in ("zh", "en"):
        assert model.metrics[lang]["heldout_auc"] >= 0.95, model.metrics
        assert model.metrics[lang]["eval_positive"] > 0 and model.metrics[lang]["eval_negative"] > 0
    loaded = QualityModel.load(path)
    text = "长江是亚洲第一长河，流经很多省份。"
    assert loaded.score(text, "zh") == pytest.approx(model.score(text, "zh"))
    assert 0.0 <= loaded.score(text, "zh") <= 1.0


@pytest.mark.slow
def test_negatives_are_rule_rejects_only_and_labels_are_disjoint(trained):
    _, _, cfg = trained
    dropped = collections.Counter()
    examples = collect_examples(cfg, dropped)
    rejected = [e for e in examples if e.origin == "rejected"]
    assert {e.id for e in rejected} == {f"spam/{i}" for i in range(12)}  # only the rule-rejected junk
    assert dropped["negative_not_a_rule_reject:minhash_dedup"] > 0 and dropped["negative_not_a_rule_reject:length"] == 1
    assert dropped["negative_also_positive"] == 20
    positive_keys = {k for e in examples if e.label == 1 for k in (e.id, e.text_key)}
    assert not any(e.id in positive_keys or e.text_key in positive_keys for e in examples if e.label == 0)


@pytest.mark.slow
def test_heldout_split_is_by_source(trained):
    model, _, cfg = trained
    examples = collect_examples(cfg)
    zh = [e for e in examples if e.lang == "zh" and e.origin == "positive"]
    heldout_sources = {e.source for e in zh if e.split == "heldout"}
    assert len(heldout_sources) == 1 and not heldout_sources & {e.source for e in zh if e.split == "train"}
    assert model.metrics["zh"]["heldout_sources"] == sorted(heldout_sources)
    assert {e.source for e in zh if e.split == "train"} <= set(model.metrics["zh"]["train_sources"])
    assert not heldout_sources & set(model.metrics["zh"]["train_sources"])


def test_heldout_files_must_be_other_sources(tmp_path, write_lines, clean_records, capsys):
    positives = write_lines("pos.jsonl", clean_records * 4)
    with pytest.raises(SystemExit) as exit_info:
        quality_main(["train", "--positive", str(positives), "--heldout-positive", str(positives),
                      "--out", str(tmp_path / "m.npz")])
    assert exit_info.value.code == 2
    assert "both a training and a held-out source" in capsys.readouterr().err


def test_stored_threshold_keeps_what_it_was_read_off():
    """The threshold is stored to 4 decimals; rounded up it rejected the calibration document it was set to
    keep (CMRC TRIAL_142, score 0.68055..., stored 0.6806, with keep=1.0 in bench_junk_removal.py)."""
    scores, labels = np.array([0.680552, 0.9, 0.95, 0.1]), np.array([1, 1, 1, 0])
    threshold = suggested_threshold(scores, labels, keep=1.0)
    assert (scores[labels == 1] >= threshold).all(), threshold
    assert threshold == 0.6805
    assert suggested_threshold(np.array([0.680549, 0.9]), np.array([1, 1]), keep=1.0) == 0.6805


@pytest.mark.slow
def test_threshold_is_calibrated_on_unseen_sources(tmp_path, corpus_dir):
    """Trained on the novel, the en threshold read off unseen novel text rejected 358 of 396 EWT documents
    that passed the heuristics; read off EWT text (calibration half) it keeps the other half."""
    ewt = [r for r in read_jsonl(corpus_dir / "en_web_ewt.jsonl") if len(r["text"].split()) >= 20]
    heldout = tmp_path / "ewt.jsonl"
    heldout.write_text("\n".join(json.dumps(r) for r in ewt) + "\n")
    model = train_quality_model(TrainConfig(positive=[str(corpus_dir / "en_novel_botchan.jsonl")],
                                            heldout_positive=[str(heldout)], out=str(tmp_path / "m.npz"),
                                            junk_per_lang=200))
    metrics = model.metrics["en"]
    assert metrics["heldout_sources"] == [str(heldout)]
    # >= 0.9 on the full corpus, 0.78 on the 100-document sample (a threshold read off ~35 documents); the old
    # recipe kept 36 of 409 (0.09)
    assert metrics["heldout_clean_retention"] >= 0.75, metrics
    assert metrics["heldout_auc"] >= 0.8, metrics  # web text vs junk built from web sentences, never trained on


@pytest.mark.slow
def test_quality_stage_keeps_unseen_good_text_and_rejects_junk(trained, corpus_dir):
    model, _, _ = trained
    stage = QualityStage(model, {"zh": None, "en": None})  # the model's suggested thresholds
    assert stage.thresholds["en"] == model.suggested_threshold("en")
    unseen = [r for r in read_jsonl(corpus_dir / "en_novel_botchan.jsonl") if is_held_out(r["id"], 0.2)]
    junk = generate_junk([r["text"] for r in unseen], "en", 40, seed=99, kinds=["word_salad", "keyword_spam"])
    records = [{**r, "meta": {"lang": "en"}} for r in unseen + junk]
    out = list(stage.run(iter(records), ShardInfo(0, 1, "0")))
    kept_good = sum("reject_reason" not in r for r in out[: len(unseen)])
    assert kept_good >= 0.9 * len(unseen), (kept_good, len(unseen))
    assert all(r["reject_reason"] == "quality:low_score" for r in out[len(unseen):])
    assert all(0.0 <= r["meta"]["quality_score"] <= 1.0 for r in out)


def test_cli_train_and_bad_arguments(tmp_path, write_lines, clean_records, capsys):
    positives = write_lines("pos.jsonl", clean_records * 4)
    code = quality_main(["train", "--positive", str(positives), "--out", str(tmp_path / "m.npz"),
                         "--junk-per-lang", "16", "--epochs", "5", "--bits", "12"])
    assert code == 0 and (tmp_path / "m.npz").is_file()
    capsys.readouterr()
    assert quality_main(["score", "--model", str(tmp_path / "m.npz"), str(positives)]) == 0
    scored = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(scored) == len(clean_records) * 4 and all(0.0 <= s["quality_score"] <= 1.0 for s in scored)
    assert {s["lang"] for s in scored} == {"zh", "en"}
    with pytest.raises(SystemExit) as exit_info:
        quality_main(["train", "--positive", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x.npz")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0  # one line
