"""Tolerant JSON-lines reader: every malformed line becomes a rejected record, never a crash."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator

from data_pipeline.errors import UnreadableShardError
from data_pipeline.formats.jsonl import BROKEN_STREAM_ERRORS, open_binary_reader
from data_pipeline.readers.validate import ReaderOptions, rejected_raw, to_record
from data_pipeline.text_validity import INVALID_TEXT, line_may_hold_lone_surrogate


def read_jsonl_records(path: str, options: ReaderOptions) -> Iterator[dict]:
    """Records of `path`; ids default to ``<path>:<line>`` so they are stable across runs."""
    try:
        stream = open_binary_reader(path)
    except OSError as err:
        raise UnreadableShardError(f"{path}: {err}") from None
    line_no = 0
    with stream:
        try:
            for line_no, raw in enumerate(stream, start=1):  # noqa: B007 (line_no used after the loop)
                record = _parse_line(raw, f"{path}:{line_no}", options)
                if record is not None:
                    yield record
        except BROKEN_STREAM_ERRORS as err:
            if line_no == 0 and not isinstance(err, EOFError):
                raise UnreadableShardError(f"{path}: {err}") from None
            # A truncated or corrupt compressed stream: the complete lines before it were kept above;
            # the loss is recorded as one rejected record so the accounting says where the file broke.
            yield rejected_raw(f"{path}:{line_no + 1}", "truncated_file", str(err))


def _parse_line(raw: bytes, fallback_id: str, options: ReaderOptions) -> dict | None:
    """The record on one line, a rejected record for a bad line, or None for a blank line."""
    if b"\x00" in raw:
        return rejected_raw(fallback_id, "nul_bytes", raw.replace(b"\x00", b"").decode("utf-8", "replace"))
    if raw.startswith(codecs.BOM_UTF8):  # a file saved "UTF-8 with BOM": the mark is not part of the JSON
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return rejected_raw(fallback_id, INVALID_TEXT, raw.decode("utf-8", "replace"))  # one rule for text that is not Unicode
    if not line.strip():
        return None  # a blank line holds no document: nothing to keep or reject
    try:
        row = json.loads(line)
    # ValueError beyond JSONDecodeError: an integer over Python's 4300-digit limit; RecursionError: nesting
    # deeper than the interpreter's stack allows. Both are a bad line, not a reason to stop the shard.
    except (ValueError, RecursionError):
        return rejected_raw(fallback_id, "invalid_json", line)
    return to_record(row, fallback_id, options, line_may_hold_lone_surrogate(raw))
