"""Where the tests find real zh/en text: the full corpus beside the repository (`../shared/data/corpus`) when
it is there, else the small sample shipped in `tests/fixtures/corpus` (licences in its README), so a clone
anywhere runs the real-text tests. `BAICHUAN_TEST_CORPUS=fixture` forces the sample; a path picks any folder of
`*.jsonl` files."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO.parent / "shared" / "data" / "corpus"
FIXTURE_CORPUS = REPO / "tests" / "fixtures" / "corpus"


def real_corpus_dir() -> Path:
    choice = os.environ.get("BAICHUAN_TEST_CORPUS", "")
    if choice == "fixture":
        return FIXTURE_CORPUS
    if choice:
        return Path(choice)
    return SHARED_CORPUS if SHARED_CORPUS.is_dir() else FIXTURE_CORPUS


def corpus_files(corpus: Path | None = None) -> list[Path]:
    return sorted((corpus or real_corpus_dir()).glob("*.jsonl"))


def corpus_records(corpus: Path | None = None) -> list[dict]:
    """Every document of the corpus, in file order."""
    return [json.loads(line) for path in corpus_files(corpus) for line in path.open(encoding="utf-8")]


def is_full_corpus(corpus: Path | None = None) -> bool:
    """True on the full shared corpus (tests that assert corpus-size numbers scale them with this)."""
    return (corpus or real_corpus_dir()).resolve() == SHARED_CORPUS.resolve()
