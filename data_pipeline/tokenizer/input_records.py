"""Reading the records the tokenizer tools consume: which files, and each record's text, source and language.

Input is the pipeline's ``OUT/kept`` folder (``*.jsonl.gz``), any folder/glob/file of ``.jsonl[.gz|.zst]``,
opened with the pipeline's own decompressing reader. Unlike the strict `read_jsonl` (which raises on the first
bad line, fine for files this project wrote), a bad line here is a counted rejection and reading goes on, so a
hand-made corpus with one broken line does not stop a multi-hour run. Field names are configurable; when a record
lacks them the source falls back to the input file's stem and the language to a script-based guess.
"""

from __future__ import annotations

import codecs
import json
import json.scanner
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from data_pipeline.formats.jsonl import BROKEN_STREAM_ERRORS, open_binary_reader
from data_pipeline.text_validity import INVALID_TEXT, holds_lone_surrogate, line_may_hold_lone_surrogate
from plumbing.input_files import announce_inputs, resolve_input_files

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.zstd")


@dataclass
class RecordFieldsConfig:
    text_field: str = "text"
    # Dotted paths into the record; a missing value falls back (file stem / script guess).
    source_field: str = "source"
    language_field: str = "meta.lang"
    # Rehydration (FineWeb-2): "dup_cluster_size" writes each document min(meta.dup_cluster_size, weight_cap)
    # times, so the loader samples a document that had many copies before dedup more often (Baichuan 2 used
    # dedup cluster scores as sampling weights). "" = every document once. Copies are separate documents of the
    # shards, which the loader's shuffle scatters; a cap keeps mass-duplicated boilerplate from dominating.
    weight_by: str = ""
    weight_cap: int = 4


WEIGHT_SOURCES = {"": None, "dup_cluster_size": "meta.dup_cluster_size"}


def copies_getter(fields: RecordFieldsConfig) -> Callable[[dict], int] | None:
    """How many times a record is written (None = once), from `weight_by` capped at `weight_cap`."""
    dotted = WEIGHT_SOURCES[fields.weight_by]
    if dotted is None:
        return None
    get, cap = field_getter(dotted), fields.weight_cap

    def copies(record: dict) -> int:
        value = get(record)  # a record dedup never saw counts as unique
        return min(cap, value) if isinstance(value, int) and not isinstance(value, bool) and value > 1 else 1

    return copies


class Document(NamedTuple):  # a tuple: built once per document, the cheapest record Python has
    text: str
    source: str
    language: str


def list_input_files(spec: str | list[str]) -> list[Path]:
    """The JSON-lines files named by a path, a glob or a list of them (folders recursively), in order, never
    empty; says on stderr how many matched and their size."""
    files = [Path(f) for f in resolve_input_files(spec, JSONL_SUFFIXES)]
    announce_inputs(files)
    return files


def file_stem(path: Path) -> str:
    """``zh_wiki.jsonl.gz`` → ``zh_wiki``."""
    name = path.name
    for suffix in sorted(JSONL_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def field_getter(dotted: str) -> Callable[[dict], object]:
    """A function reading the dotted path `dotted` from a record (None where it is missing), split once."""
    keys = dotted.split(".")
    if len(keys) == 1:  # the common case: a top-level field is one dict lookup
        return operator.methodcaller("get", keys[0])

    def get(record: dict) -> object:
        value: object = record
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    return get


_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
# UTF-8 lead bytes of U+3000..U+9FFF (CJK punctuation, kana, extension A, the unified ideographs).
_CJK_LEAD_BYTES = bytes(range(0xE3, 0xEA))


def guess_language(text: str, sample_chars: int = 256) -> str:
    """'zh' when CJK characters are at least 30% of the letters, 'en' when Latin letters dominate, else 'other'.

    Only a fallback for records the pipeline's langid has not labelled (it cannot tell English from French);
    counted on UTF-8 bytes so it costs a few percent of tokenizing the text.
    """
    sample = text[:sample_chars].encode("utf-8")
    cjk = len(sample) - len(sample.translate(None, _CJK_LEAD_BYTES))
    latin = len(sample) - len(sample.translate(None, _ASCII_LETTERS))
    if cjk and cjk >= 0.3 * (cjk + latin):
        return "zh"
    return "en" if latin else "other"


def _count(rejections: dict[str, int], reason: str) -> None:
    rejections[reason] = rejections.get(reason, 0) + 1


_scan_json = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner json.loads ends up in
_JSON_WHITESPACE = " \t\n\r"


def parse_json_line(line: str) -> object:
    """``json.loads(line)`` — same result, same ValueError — calling json's scanner directly on the usual line
    (a value from its first character, then only a newline), which skips about 0.8 µs of wrappers per line."""
    try:
        value, end = _scan_json(line, 0)
    except StopIteration:  # leading whitespace or not JSON: let json.loads decide, or raise its error
        return json.loads(line)
    if end != len(line) and line[end:].strip(_JSON_WHITESPACE):
        return json.loads(line)  # raises "Extra data"
    return value


def read_records(path: Path, rejections: dict[str, int]) -> Iterator[dict]:
    """JSON objects of one file; lines that are not JSON or not an object, records holding a lone surrogate or
    bytes that are not UTF-8 anywhere (`invalid_text`, see data_pipeline.text_validity) and a truncated stream
    are counted, not raised."""
    try:
        with open_binary_reader(path) as stream:
            for raw in stream:
                if raw.startswith(codecs.BOM_UTF8):  # what json.loads(bytes) would accept too
                    raw = raw[len(codecs.BOM_UTF8) :]
                if not raw.strip():  # after the BOM: a file holding only a BOM has no record, as in the pipeline
                    continue
                try:
                    line, may_hold_surrogate = raw.decode("utf-8"), line_may_hold_lone_surrogate(raw)
                except UnicodeDecodeError:
                    # Bytes that are not UTF-8 decode to lone surrogates, so a record holding them falls under
                    # the one rule for text that is not valid Unicode (`invalid_text`), as the CSV reader's do.
                    line, may_hold_surrogate = raw.decode("utf-8", "surrogateescape"), True
                try:
                    record = parse_json_line(line)
                # ValueError: invalid JSON, or an integer over Python's digit limit; RecursionError: nesting deeper
                # than the stack allows.
                except (ValueError, RecursionError):
                    _count(rejections, "invalid_json")
                    continue
                if not isinstance(record, dict):
                    _count(rejections, "not_an_object")
                elif may_hold_surrogate and holds_lone_surrogate(record):
                    # any field, not just the text: the source and language end up in the shard manifest
                    _count(rejections, INVALID_TEXT)
                else:
                    yield record
    except BROKEN_STREAM_ERRORS:  # a truncated or corrupt compressed file: keep what was read before it
        _count(rejections, "truncated_file")


def read_documents(path: Path, fields: RecordFieldsConfig, rejections: dict[str, int]) -> Iterator[Document]:
    """Documents of one file; a record without usable text is counted in `rejections` (by reason), not yielded."""
    default_source = file_stem(path)
    get_text = field_getter(fields.text_field)
    get_source = field_getter(fields.source_field)
    get_language = field_getter(fields.language_field)
    get_copies = copies_getter(fields)
    for record in read_records(path, rejections):
        text = get_text(record)
        if not isinstance(text, str):
            _count(rejections, "missing_text")
            continue
        if not text:
            _count(rejections, "empty_text")
            continue
        source = get_source(record)
        language = get_language(record)
        document = Document(
            text,
            source if isinstance(source, str) and source else default_source,
            language if isinstance(language, str) and language else guess_language(text),
        )
        for _ in range(1 if get_copies is None else get_copies(record)):
            yield document
