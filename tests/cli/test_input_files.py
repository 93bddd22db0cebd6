"""One input syntax for every command that reads documents: a path, a glob or a list of them name the same
files, and the command says which before it starts."""

from __future__ import annotations

import gzip

import pytest

from data_pipeline.config import compose_pipeline_config
from data_pipeline.readers import discover_sources
from data_pipeline.tokenizer.input_records import list_input_files
from plumbing.input_files import describe_inputs, resolve_input_files
from plumbing.user_error import UserError

SUFFIXES = (".jsonl", ".jsonl.gz")


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.jsonl").write_text('{"id": "a", "text": "x"}\n')
    (tmp_path / "sub" / "b.jsonl.gz").write_bytes(gzip.compress(b'{"id": "b", "text": "y"}\n'))
    (tmp_path / ".a.jsonl.tmp-1.jsonl").write_text("half-written\n")  # a writer's temporary: never input
    (tmp_path / "notes.md").write_text("not data\n")
    return tmp_path


def spellings(root) -> dict[str, object]:
    return {
        "folder": str(root),
        "glob": str(root / "**" / "*.jsonl*"),
        "list": [str(root / "a.jsonl"), str(root / "sub" / "b.jsonl.gz")],
        "list of folder and glob": [str(root / "a.jsonl"), str(root / "s*")],
    }


def test_path_glob_and_list_name_the_same_files(corpus):
    expected = [str(corpus / "a.jsonl"), str(corpus / "sub" / "b.jsonl.gz")]
    for name, spec in spellings(corpus).items():
        assert resolve_input_files(spec, SUFFIXES) == expected, name


def test_the_tokenizer_tools_and_the_pipeline_read_the_same_files_in_every_spelling(corpus, capsys):
    expected = [corpus / "a.jsonl", corpus / "sub" / "b.jsonl.gz"]
    for name, spec in spellings(corpus).items():
        assert list_input_files(spec) == expected, name
        override = f"input.paths=[{','.join(spec)}]" if isinstance(spec, list) else f"input.paths={spec}"
        cfg = compose_pipeline_config([override, "output.dir=unused"])
        assert [s.location for s in discover_sources(cfg.input)] == [str(p) for p in expected], name
    assert capsys.readouterr().err.count("input: 2 files, ") == len(spellings(corpus))


def test_the_announcement_gives_count_size_and_names(corpus):
    line = describe_inputs([corpus / "a.jsonl", corpus / "sub" / "b.jsonl.gz"])
    size = (corpus / "a.jsonl").stat().st_size + (corpus / "sub" / "b.jsonl.gz").stat().st_size
    assert line == f"input: 2 files, {size} B (a.jsonl, b.jsonl.gz)"


@pytest.mark.parametrize(("spec", "message"), [
    ("missing.jsonl", "does not exist"),
    ("*.parquet", "matches no file"),
    ("empty_dir", "holds no .jsonl/.jsonl.gz file"),
    ([], "no input given"),
])
def test_an_input_that_names_nothing_is_a_user_error(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match=message):
        resolve_input_files(spec, SUFFIXES)


def test_one_path_or_a_list_compose_to_the_same_config(corpus):
    from data_pipeline.train_tokenizer import COMMAND

    one = COMMAND.build_config([f"input={corpus}", "output=o"])
    listed = COMMAND.build_config([f"input=[{corpus}]", "output=o"])
    assert one == listed and one.input == [str(corpus)]
