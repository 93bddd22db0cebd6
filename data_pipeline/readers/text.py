"""Plain-text reader: one document per file, or one per blank-line-separated paragraph."""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_pipeline.errors import UnreadableShardError
from data_pipeline.readers.validate import ReaderOptions, rejected_raw, to_record
from data_pipeline.text_validity import INVALID_TEXT

_BLANK_LINES = re.compile(r"\n\s*\n")


def read_text_records(path: str, options: ReaderOptions, mode: str = "file") -> Iterator[dict]:
    """`mode` is 'file' (id = path) or 'paragraph' (id = path:#n, n counting paragraphs from 0)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise UnreadableShardError(f"{path}: {err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield rejected_raw(path, INVALID_TEXT, data.decode("utf-8", "replace"))
        return
    if mode == "file":
        yield to_record({"text": text, "source": path}, path, options)
        return
    paragraphs = [p.strip("\n") for p in _BLANK_LINES.split(text)]
    for number, paragraph in enumerate(p for p in paragraphs if p.strip()):
        yield to_record({"text": paragraph, "source": path}, f"{path}:#{number}", options)
