"""Commits overlapped with encoding (FileTokenizer.tokenize_files): a failure leaves exactly the unfinished files
without a progress marker, and the rerun completes them with the same bytes as an uninterrupted run."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from data_pipeline.formats.token_shards import TokenShardWriter
from data_pipeline.tokenize import FILES_PER_TASK, TokenizeConfig, file_chunks, tokenize
from data_pipeline.tokenizer import shard_writing
from data_pipeline.tokenizer.shard_writing import FileTokenizer
from tests.real_text import real_corpus_dir

# Tokenized biggest file first, all in one worker's chunk when num_workers=1; the order depends on the corpus
# (the full shared one or the shipped sample), so it is read off the files.
INPUTS = tuple(sorted(("en_web_ewt", "en_novel_botchan", "zh_wiki_gsdsimp"),
                      key=lambda stem: (real_corpus_dir() / f"{stem}.jsonl").stat().st_size, reverse=True))
FAILING = INPUTS[1]


def test_file_chunks_cover_every_file_in_order_and_keep_workers_busy():
    files = [Path(f"f{i}.jsonl") for i in range(193)]
    chunks = file_chunks(files, workers=2)
    assert [f for chunk in chunks for f in chunk] == files
    assert max(map(len, chunks)) == FILES_PER_TASK and len(chunks) == 25
    few = file_chunks(files[:10], workers=2)
    assert [len(c) for c in few] == [1] * 10  # too few files to chunk: one file per task
    assert file_chunks([], workers=2) == []


def _inject_failure(patch, owner, name: str, fails, error: OSError) -> None:
    """Replace owner.name with a wrapper that raises `error` when `fails(*args)` holds."""
    original = getattr(owner, name)

    def failing(*args):
        if fails(*args):
            raise error
        return original(*args)

    patch.setattr(owner, name, failing)


NO_SPACE = OSError(28, "No space left on device (injected)")


def _fail_writer_close(patch):
    _inject_failure(patch, TokenShardWriter, "close", lambda writer: writer.name == FAILING, NO_SPACE)


def _fail_marker_write(patch):
    """The shards are durable and renamed into place, then writing the marker fails."""
    _inject_failure(patch, shard_writing, "atomic_write_json", lambda path, obj: path.name == f"{FAILING}.json",
                    NO_SPACE)


def _fail_encoding_after_it(patch):
    """Encoding the next file fails while FAILING's commit is in flight: that commit still completes."""
    _inject_failure(patch, FileTokenizer, "encode_file", lambda tokenizer, path: path.name == f"{INPUTS[2]}.jsonl",
                    OSError(5, "Input/output error (injected)"))


@pytest.mark.parametrize(
    ("inject", "finished"),
    [
        (_fail_writer_close, {INPUTS[0]}),
        (_fail_marker_write, {INPUTS[0]}),
        (_fail_encoding_after_it, {INPUTS[0], FAILING}),
    ],
)
def test_failure_in_a_chunk_leaves_unfinished_files_unmarked_and_rerun_completes_them(
    inject, finished, corpus_dir, trained_tokenizer, tmp_path, monkeypatch
):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for stem in INPUTS:
        (inputs / f"{stem}.jsonl").write_bytes((corpus_dir / f"{stem}.jsonl").read_bytes())

    def config(out):
        return TokenizeConfig(
            input=str(inputs), tokenizer=str(trained_tokenizer), output=str(out), num_workers=1
        )

    clean, out = tmp_path / "clean", tmp_path / "out"
    tokenize(config(clean))
    with monkeypatch.context() as patch:
        inject(patch)
        with pytest.raises(OSError, match="injected"):
            tokenize(config(out))
    assert {p.stem for p in (out / "_progress").glob("*.json")} == finished
    assert not list(out.rglob(".*tmp*"))  # aborted writers removed their temporary files

    summary = tokenize(config(out))
    assert summary["resumed_files"] == len(finished) and summary["input_files"] == len(INPUTS)
    files = sorted(str(p.relative_to(clean)) for p in clean.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(
        clean, out, [f for f in files if f != "summary.json"], shallow=False
    )
    assert mismatch == [] and errors == []
