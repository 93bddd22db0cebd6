"""data_pipeline.tokenize: shards hold exactly the encoded documents; parallel, resumable, deterministic."""

from __future__ import annotations

import filecmp
import gzip
import json

import pytest
import sentencepiece as spm
import torch

from data_pipeline.errors import UserError
from data_pipeline.formats.token_shard_set import TokenShardSet
from data_pipeline.formats.token_shards import read_manifest
from data_pipeline.tokenize import TokenizeConfig, main, tokenize


def shard_files(root):
    return sorted(
        p.relative_to(root)
        for p in root.rglob("*")
        if p.suffix in (".bin", ".idx") or p.name == "manifest.json"
    )


def test_shards_hold_every_document_with_eos(corpus_shards, corpus_dir, trained_tokenizer, corpus_texts):
    processor = spm.SentencePieceProcessor(model_file=str(trained_tokenizer / "tokenizer.model"))
    stems = sorted(p.name.removesuffix(".jsonl") for p in corpus_dir.glob("*.jsonl"))
    assert sorted(p.name for p in corpus_shards.iterdir() if (p / "manifest.json").exists()) == stems
    shard_set = TokenShardSet.from_path(str(corpus_shards / "*"))
    assert shard_set.num_documents == len(corpus_texts)
    assert shard_set.num_tokens == sum(len(ids) + 1 for ids in processor.encode(corpus_texts))
    for doc in (0, len(corpus_texts) // 2, len(corpus_texts) - 1):
        tokens = shard_set.document_tokens(doc)
        assert tokens[-1] == processor.eos_id()
        assert processor.decode(tokens[:-1].tolist()) == corpus_texts[doc]
    manifest = read_manifest(corpus_shards / "zh_wiki_cmrc2018")
    assert (
        manifest.dtype == "uint16"
        and manifest.eos_id == 2
        and manifest.vocab_size == processor.get_piece_size()
    )
    cmrc_documents = sum(1 for line in (corpus_dir / "zh_wiki_cmrc2018.jsonl").open(encoding="utf-8"))
    assert manifest.totals_by("languages")["zh"].documents > 0.9 * cmrc_documents


@pytest.mark.slow
def test_parallel_output_is_identical_to_serial(corpus_shards, corpus_dir, trained_tokenizer, tmp_path):
    tokenize(
        TokenizeConfig(
            input=str(corpus_dir), tokenizer=str(trained_tokenizer), output=str(tmp_path), num_workers=2
        )
    )
    files = shard_files(corpus_shards)
    assert files == shard_files(tmp_path) and len(files) == 12
    _, mismatch, errors = filecmp.cmpfiles(corpus_shards, tmp_path, [str(f) for f in files], shallow=False)
    assert mismatch == [] and errors == []


def test_rerun_resumes_only_unfinished_files(corpus_dir, trained_tokenizer, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("en_novel_botchan.jsonl", "zh_wiki_gsdsimp.jsonl"):
        (inputs / name).write_bytes((corpus_dir / name).read_bytes())
    out = tmp_path / "out"
    config = TokenizeConfig(
        input=str(inputs), tokenizer=str(trained_tokenizer), output=str(out), num_workers=1
    )
    assert tokenize(config)["resumed_files"] == 0
    before = (out / "zh_wiki_gsdsimp" / "zh_wiki_gsdsimp.bin").read_bytes()
    # simulate a crash while the second file was being written: its marker and output never appeared
    (out / "_progress" / "zh_wiki_gsdsimp.json").unlink()
    (out / "zh_wiki_gsdsimp" / "zh_wiki_gsdsimp.bin").unlink()
    summary = tokenize(config)
    assert summary["resumed_files"] == 1 and summary["input_files"] == 2
    assert (out / "zh_wiki_gsdsimp" / "zh_wiki_gsdsimp.bin").read_bytes() == before
    assert not list(out.rglob(".*tmp*"))


def test_fields_grouping_and_rejections(trained_tokenizer, tmp_path):
    records = [
        {"id": "1", "text": "第一篇文章。", "source": "news", "meta": {"lang": "zh"}},
        {"id": "2", "text": "An English article.", "source": "news", "meta": {"lang": "en"}},
        {"id": "3", "text": "Another one, no source field."},
        {"id": "4", "text": ""},
        {"id": "5", "title": "no text at all"},
    ]
    inputs = tmp_path / "kept"
    inputs.mkdir()
    with gzip.open(inputs / "part-00000.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    out = tmp_path / "shards"
    summary = tokenize(
        TokenizeConfig(input=str(inputs), tokenizer=str(trained_tokenizer), output=str(out), group_by="lang")
    )
    assert summary["rejected_records"] == {"empty_text": 1, "missing_text": 1}
    assert summary["documents"] == 3
    zh, en = read_manifest(out / "zh"), read_manifest(out / "en")
    assert zh.total_documents == 1 and en.total_documents == 2
    assert en.totals_by("sources").keys() == {"news", "part-00000"}  # fallback source: the file stem


def test_changed_tokenizer_is_refused(corpus_shards, corpus_dir, trained_tokenizer):
    marker = corpus_shards / "_progress" / "en_web_ewt.json"
    original = marker.read_text()
    marker.write_text(original.replace(json.loads(original)["tokenizer_sha256"], "0" * 64))
    try:
        with pytest.raises(UserError, match="another tokenizer"):
            tokenize(
                TokenizeConfig(
                    input=str(corpus_dir), tokenizer=str(trained_tokenizer), output=str(corpus_shards)
                )
            )
    finally:
        marker.write_text(original)


def test_cli_user_errors_are_one_line(tmp_path, capsys):
    for argv, expected in [
        ([f"input={tmp_path}/missing", f"tokenizer={tmp_path}", f"output={tmp_path}/o"], "does not exist"),
        (
            [f"input={tmp_path}", f"tokenizer={tmp_path}/none.model", f"output={tmp_path}/o"],
            "holds no .jsonl",
        ),
        ([f"input={tmp_path}", "tokenizer=x", f"output={tmp_path}/o", "group_by=language"], "group_by"),
        (["inptu=x"], "inptu"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert (
            exit_info.value.code == 2
            and err.startswith("error: ")
            and expected in err
            and err.count("\n") == 1
        )


def test_loader_over_real_shards_yields_real_text(corpus_shards, trained_tokenizer):
    """End to end: trained tokenizer → shards → two-rank loader with a zh 0.6 / en 0.4 mixture → text again."""
    from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig

    processor = spm.SentencePieceProcessor(model_file=str(trained_tokenizer / "tokenizer.model"))
    config = DataConfig(
        sources=[
            SourceConfig("zh", str(corpus_shards / "zh_*"), target_fraction=0.6),
            SourceConfig("en", str(corpus_shards / "en_*"), target_fraction=0.4),
        ],
        mixture_block_size=100,
    )
    ranks = [
        PretrainDataLoader(config, seq_len=128, micro_batch_size=4, dp_rank=r, dp_size=2) for r in range(2)
    ]
    batches = [next(iter(loader)) for loader in ranks]
    assert not torch.equal(batches[0]["input_ids"], batches[1]["input_ids"])
    sources = [ranks[0].source_of(g) for g in range(100)]
    assert sources.count("zh") == 60 and sources.count("en") == 40
    for g, row in enumerate(torch.cat([b["input_ids"] for b in batches]).tolist()):
        text = processor.decode(row)
        han = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
        assert (han > len(text) * 0.2) == (ranks[0].source_of(g) == "zh"), text[:60]


def test_changed_input_is_tokenized_again_and_its_old_group_dropped(trained_tokenizer, tmp_path):
    inputs, out = tmp_path / "kept", tmp_path / "shards"
    inputs.mkdir()
    path = inputs / "part-00000.jsonl"
    path.write_text(
        json.dumps({"id": "1", "text": "旧的中文文档。", "source": "old"}, ensure_ascii=False) + "\n"
    )
    config = TokenizeConfig(input=str(inputs), tokenizer=str(trained_tokenizer), output=str(out))
    assert tokenize(config)["tokens_per_group"].keys() == {"old"}
    path.write_text(json.dumps({"id": "1", "text": "A new English document.", "source": "new"}) + "\n")
    summary = tokenize(config)
    assert summary["resumed_files"] == 0 and summary["tokens_per_group"].keys() == {"new"}
    assert not (out / "old" / "manifest.json").exists() and not (out / "old" / "part-00000.bin").exists()
    assert read_manifest(out / "new").total_documents == 1


def test_bad_lines_and_truncated_files_are_counted_not_fatal(trained_tokenizer, tmp_path):
    inputs = tmp_path / "raw"
    inputs.mkdir()
    good = [json.dumps({"id": str(i), "text": f"document number {i} " * 50}) for i in range(400)]
    (inputs / "a.jsonl").write_text("\n".join([good[0], "{not json", "[1, 2]", good[1]]) + "\n")
    blob = gzip.compress(("\n".join(good) + "\n").encode())
    (inputs / "b.jsonl.gz").write_bytes(blob[: len(blob) // 2])  # cut in the middle of the stream
    out = tmp_path / "shards"
    summary = tokenize(TokenizeConfig(input=str(inputs), tokenizer=str(trained_tokenizer), output=str(out)))
    assert summary["rejected_records"] == {"invalid_json": 1, "not_an_object": 1, "truncated_file": 1}
    assert read_manifest(out / "a").total_documents == 2
    assert 0 < read_manifest(out / "b").total_documents < 400  # the complete lines before the cut are kept
