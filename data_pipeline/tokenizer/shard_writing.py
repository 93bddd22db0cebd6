"""Tokenize input files into token-shard directories: one shard per input file and group, resumable, deterministic.

Layout of ``OUT`` (see docs/tokenizer.md):

* ``OUT/<group>/`` — one token-shard directory (manifest + ``.bin``/``.idx``) per group of documents:
  ``group_by=source`` (default) gives ``OUT/<source>``, ``lang`` gives ``OUT/<lang>``, ``source_lang`` gives
  ``OUT/<source>/<lang>``, ``none`` gives ``OUT/all``; a mixture's ``data.sources[i].path`` points at one such
  directory or a glob of them.
* Inside a group, input file ``X.jsonl.gz`` becomes shard ``X`` — output names follow input names, so the result
  does not depend on how many workers ran or in which order they finished.
* ``OUT/_progress/X.json`` — written last for each finished input file; a rerun skips those files, so an
  interrupted run resumes where it stopped. Manifests are rebuilt from these markers at the end of every run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sentencepiece as spm

from data_pipeline.errors import UserError
from data_pipeline.formats.token_shards import (
    MANIFEST_NAME,
    ShardEntry,
    TokenShardWriter,
    atomic_write_json,
    write_manifest,
)
from data_pipeline.tokenizer.input_records import Document, RecordFieldsConfig, file_stem, read_documents

PROGRESS_DIR = "_progress"
# A batch of documents ends at this many characters too: bounds a worker's memory when documents are books.
# Long SentencePiece calls are cheaper per token (fewer cache refills between Python work), so batches are big.
MAX_BATCH_CHARS = 1 << 22
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TokenizerInfo:
    path: str
    sha256: str
    vocab_size: int
    eos_id: int


@dataclass
class FileResult:
    """What tokenizing one input file produced (also the content of its progress marker)."""

    input: str
    input_bytes: int  # the input's size when tokenized: a changed file is tokenized again
    tokenizer_sha256: str
    groups: dict[str, ShardEntry] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "input": self.input,
            "input_bytes": self.input_bytes,
            "tokenizer_sha256": self.tokenizer_sha256,
            "groups": {name: entry.to_json() for name, entry in self.groups.items()},
            "rejections": self.rejections,
        }

    @classmethod
    def from_json(cls, obj: dict) -> FileResult:
        return cls(
            input=obj["input"],
            input_bytes=int(obj.get("input_bytes", -1)),
            tokenizer_sha256=obj["tokenizer_sha256"],
            groups={name: ShardEntry.from_json(e) for name, e in obj["groups"].items()},
            rejections=obj.get("rejections", {}),
        )


GROUPINGS = ("source", "lang", "source_lang", "none")


def group_name(group_by: str, source: str, language: str) -> str:
    """The output sub-directory of a document (filesystem-safe): per source, language, both, or one set."""
    parts = {"source": [source], "lang": [language], "source_lang": [source, language], "none": ["all"]}[
        group_by
    ]
    return "/".join(_UNSAFE.sub("_", part).strip("._") or "_" for part in parts)


def progress_marker(output: Path, input_file: Path) -> Path:
    return output / PROGRESS_DIR / f"{file_stem(input_file)}.json"


def read_marker(output: Path, input_file: Path, tokenizer: TokenizerInfo) -> FileResult | None:
    """What an earlier run recorded for `input_file` in `output`, if anything (same tokenizer or UserError)."""
    marker = progress_marker(output, input_file)
    if not marker.is_file():
        return None
    result = FileResult.from_json(json.loads(marker.read_text()))
    if result.tokenizer_sha256 != tokenizer.sha256:
        raise UserError(
            f"{output} holds shards from another tokenizer ({result.tokenizer_sha256[:12]}…, now {tokenizer.sha256[:12]}…)",
            "write to a fresh output directory",
        )
    return result


def discard(output: Path, result: FileResult) -> None:
    """Remove what an earlier run wrote for one input file (marker last, so a crash here is retried)."""
    name = file_stem(Path(result.input))
    for group in result.groups:
        for suffix in (".bin", ".idx"):
            (output / group / f"{name}{suffix}").unlink(missing_ok=True)
    progress_marker(output, Path(result.input)).unlink(missing_ok=True)


def numpy_encoding_supported(processor) -> bool:
    """Whether this sentencepiece can return ids as numpy arrays (``encode(..., return_type="numpy")``).

    That output is a copy of the C++ id buffer: no Python int per token, and the shard writer joins a batch with
    one `np.concatenate`. Older releases only return lists of ints, which the writer converts with `np.fromiter`
    (same ids, same bytes, a few percent more CPU).
    """
    try:
        processor.encode([""], num_threads=1, return_type="numpy")
    except (TypeError, ValueError):  # no `return_type` argument, or no "numpy" return type
        return False
    return True


@dataclass
class EncodedFile:
    """One input file encoded into open shard writers, not yet committed (no file renamed, no marker)."""

    input_file: Path
    result: FileResult
    writers: dict[str, TokenShardWriter] = field(default_factory=dict)

    def abort(self) -> None:
        """Remove the temporary files of the writers that were not closed."""
        for writer in self.writers.values():
            if writer.entry is None:
                writer.abort()


class FileTokenizer:
    """Tokenizes whole input files; one instance per worker process (it holds the SentencePiece model)."""

    def __init__(
        self, tokenizer: TokenizerInfo, output: Path, fields: RecordFieldsConfig, group_by: str, batch: int
    ):
        self.processor = spm.SentencePieceProcessor(model_file=tokenizer.path)
        self.encode_options = {"num_threads": 1}  # one core per worker: parallel over files instead
        if numpy_encoding_supported(self.processor):
            self.encode_options["return_type"] = "numpy"
        self.tokenizer = tokenizer
        self.output = output
        self.fields = fields
        self.group_by = group_by
        self.batch = batch
        self._group_names: dict[tuple[str, str], str] = {}  # (source, language) -> group, computed once

    def __call__(self, input_file: Path) -> FileResult:
        """Tokenize one input file and commit it (shards durable, then its progress marker)."""
        return self.commit(self.encode_file(input_file))

    def tokenize_files(self, input_files: Sequence[Path]) -> list[FileResult]:
        """Tokenize several files, committing each on a background thread while the next one is encoded.

        A commit is mostly waiting on fsync (of the ``.bin``, the ``.idx`` and the marker; it releases the GIL):
        on small files ~10 % of a worker's wall time while other jobs write, ~3 % on a quiet disk (docs/benchmarks.md).
        At most one commit is in flight and commits run in
        file order; a file's result is returned only after its marker is written. If a commit fails, the error
        propagates and no later file of `input_files` is committed (its writers are aborted), so every file
        without a marker is redone by a rerun, as when a single file fails.
        """
        results: list[FileResult] = []
        # Leaving the `with` waits for the commit in flight, also when encoding raises: a file's marker is
        # written (or its commit has failed) before the error reaches the caller.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-commit") as committer:
            committing: Future[FileResult] | None = None
            for input_file in input_files:
                encoded = self.encode_file(input_file)  # overlaps the previous file's commit
                if committing is not None:
                    try:
                        results.append(committing.result())
                    except BaseException:
                        encoded.abort()
                        raise
                committing = committer.submit(self.commit, encoded)
            if committing is not None:
                results.append(committing.result())
        return results

    def encode_file(self, input_file: Path) -> EncodedFile:
        """Read, encode and write one file's shards to temporary files; nothing is durable or visible yet."""
        result = FileResult(str(input_file), input_file.stat().st_size, self.tokenizer.sha256)
        encoded = EncodedFile(input_file, result)
        shard_name = file_stem(input_file)
        rejections = result.rejections
        try:
            pending, pending_chars = [], 0
            for doc in read_documents(input_file, self.fields, rejections):
                pending.append(doc)
                pending_chars += len(doc.text)
                if len(pending) >= self.batch or pending_chars >= MAX_BATCH_CHARS:
                    self._write(pending, shard_name, encoded.writers, rejections)
                    pending, pending_chars = [], 0
            self._write(pending, shard_name, encoded.writers, rejections)
        except BaseException:
            encoded.abort()
            raise
        return encoded

    def commit(self, encoded: EncodedFile) -> FileResult:
        """Make one encoded file's shards durable and visible, then write its progress marker (the resume point)."""
        result = encoded.result
        try:
            for name, writer in encoded.writers.items():
                result.groups[name] = writer.close()
        except BaseException:
            encoded.abort()
            raise
        atomic_write_json(progress_marker(self.output, encoded.input_file), result.to_json())
        return result

    def _group_of(self, source: str, language: str) -> str:
        key = (source, language)
        name = self._group_names.get(key)
        if name is None:
            name = self._group_names[key] = group_name(self.group_by, source, language)
        return name

    def _write(
        self,
        docs: list[Document],
        shard_name: str,
        writers: dict[str, TokenShardWriter],
        rejections: dict[str, int],
    ) -> None:
        """Encode a batch of documents with one SentencePiece call and hand each group its documents at once."""
        if not docs:
            return
        encoded = self.processor.encode([d.text for d in docs], **self.encode_options)
        labels = [(doc.source, doc.language) for doc in docs]
        if labels.count(labels[0]) == len(labels) and all(len(ids) for ids in encoded):
            # the usual batch: one source and language (so one group), every document has tokens
            source, language = labels[0]
            writer = self._writer(self._group_of(source, language), shard_name, writers)
            writer.add_documents(encoded, sources=[source] * len(docs), languages=[language] * len(docs))
            return
        by_group: dict[str, tuple[list, list, list]] = {}
        for (source, language), ids in zip(labels, encoded):
            if not len(ids):  # e.g. text of only characters the tokenizer drops: nothing to train on
                rejections["no_tokens"] = rejections.get("no_tokens", 0) + 1
                continue
            group = by_group.get(name := self._group_of(source, language))
            if group is None:
                group = by_group[name] = ([], [], [])
            group[0].append(ids)
            group[1].append(source)
            group[2].append(language)
        for name, (ids, sources, languages) in by_group.items():
            self._writer(name, shard_name, writers).add_documents(ids, sources=sources, languages=languages)

    def _writer(self, group: str, shard_name: str, writers: dict[str, TokenShardWriter]) -> TokenShardWriter:
        """The open writer of `group`'s shard for this input file (created on the group's first document)."""
        writer = writers.get(group)
        if writer is None:
            writer = writers[group] = TokenShardWriter(
                self.output / group,
                shard_name,
                vocab_size=self.tokenizer.vocab_size,
                eos_id=self.tokenizer.eos_id,
            )
        return writer


_WORKER: FileTokenizer | None = None  # the SentencePiece model of a pool worker process


def init_worker(*args) -> None:
    """Pool initializer: load the tokenizer once per worker process (args as for FileTokenizer)."""
    global _WORKER
    _WORKER = FileTokenizer(*args)


def tokenize_files_in_worker(input_files: list[Path]) -> list[FileResult]:
    """Pool task: a chunk of input files, so each file's commit overlaps encoding the next."""
    return _WORKER.tokenize_files(input_files)


def write_group_manifests(
    output: Path, results: list[FileResult], tokenizer: TokenizerInfo, emptied: Iterable[str] = ()
) -> dict[str, int]:
    """One manifest per group from every file's result (and none for `emptied` groups left without shards);
    returns tokens per group."""
    entries: dict[str, list[ShardEntry]] = {}
    for result in results:
        for name, entry in result.groups.items():
            entries.setdefault(name, []).append(entry)
    tokens = {}
    for name, group_entries in sorted(entries.items()):
        manifest = write_manifest(
            output / name,
            group_entries,
            vocab_size=tokenizer.vocab_size,
            eos_id=tokenizer.eos_id,
            tokenizer_sha256=tokenizer.sha256,
        )
        tokens[name] = manifest.total_tokens
    for name in sorted(set(emptied) - set(entries)):  # a group no input file feeds any more
        (output / name / MANIFEST_NAME).unlink(missing_ok=True)
    return tokens
