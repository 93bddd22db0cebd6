"""Rehydration by dedup cluster size (issue 24 item 4): `fields.weight_by=dup_cluster_size` writes a document
min(meta.dup_cluster_size, weight_cap) times, and the loader's samples follow those weights."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from data_pipeline.errors import UserError
from data_pipeline.formats.token_shard_set import TokenShardSet
from data_pipeline.tokenize import TokenizeConfig, tokenize, validate_tokenize_config
from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig

SIZES = [1, 2, 3, 10, 1, 4, 7, 1]  # meta.dup_cluster_size as dedup wrote it; None = a record dedup never saw
CAP = 4


def _write_input(tmp_path, corpus_texts) -> tuple:
    texts = list(dict.fromkeys(t for t in corpus_texts if 200 < len(t) < 600))[: len(SIZES) + 1]
    path = tmp_path / "kept" / "web.jsonl"
    path.parent.mkdir()
    records = [{"id": str(i), "text": t, "meta": {"dup_cluster_size": s}} for i, (t, s) in enumerate(zip(texts, SIZES))]
    records.append({"id": "unseen", "text": texts[-1], "meta": {}})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path.parent, [min(s, CAP) for s in SIZES] + [1]


def _tokenize(tmp_path, kept, tokenizer, name, **fields):
    config = TokenizeConfig(input=str(kept), tokenizer=str(tokenizer / "tokenizer.model"),
                            output=str(tmp_path / name), num_workers=1, group_by="none")
    for key, value in fields.items():
        setattr(config.fields, key, value)
    tokenize(config)
    return tmp_path / name / "all"


def _documents(shards) -> list[tuple]:
    shard_set = TokenShardSet.from_path(str(shards))
    return [tuple(shard_set.document_tokens(d).tolist()) for d in range(shard_set.num_documents)]


def test_loader_samples_each_document_in_proportion_to_its_capped_cluster_size(tmp_path, trained_tokenizer, corpus_texts):
    kept, copies = _write_input(tmp_path, corpus_texts)
    plain = _documents(_tokenize(tmp_path, kept, trained_tokenizer, "plain"))
    shards = _tokenize(tmp_path, kept, trained_tokenizer, "rehydrated", weight_by="dup_cluster_size", weight_cap=CAP)
    assert Counter(_documents(shards)) == {doc: n for doc, n in zip(plain, copies)}

    # The loader's first two epochs, windows unshuffled so its samples read the token stream in order (the first
    # token, then every label): each original document is sampled 2 × its capped cluster size times.
    seq_len, eos = 64, plain[0][-1]
    data = DataConfig(sources=[SourceConfig(name="web", path=str(shards))], validation_fraction=0.0,
                      window_shuffle_block=1)
    samples = iter(PretrainDataLoader(data, seq_len=seq_len, micro_batch_size=1))
    two_epochs = 2 * sum(len(d) * n for d, n in zip(plain, copies))
    batches = [next(samples) for _ in range(-(-two_epochs // seq_len))]
    stream = np.concatenate([batches[0]["input_ids"][0, :1].numpy()] + [b["labels"][0].numpy() for b in batches])
    stream = stream[:two_epochs]
    seen = Counter(tuple(piece.tolist()) for piece in np.split(stream, np.flatnonzero(stream == eos) + 1)[:-1])
    assert seen == {doc: 2 * n for doc, n in zip(plain, copies)}


def test_a_rerun_with_another_weighting_is_refused(tmp_path, trained_tokenizer, corpus_texts):
    kept, _ = _write_input(tmp_path, corpus_texts)
    _tokenize(tmp_path, kept, trained_tokenizer, "out")
    with pytest.raises(UserError, match="weighting"):
        _tokenize(tmp_path, kept, trained_tokenizer, "out", weight_by="dup_cluster_size", weight_cap=CAP)


def test_unknown_weight_source_is_a_user_error():
    config = TokenizeConfig(input="x", tokenizer="t", output="o")
    config.fields.weight_by = "quality"
    with pytest.raises(UserError, match="fields.weight_by"):
        validate_tokenize_config(config)
