"""Hostile JSON-lines input for the fuzz tests: what each generated line is, and the file that holds them.

A line is a `Line`: its bytes and what a correct reader must make of it — a well-formed record (its id must come
out exactly once, kept or rejected), a malformed line (it must come out exactly once, rejected, under the
reader's ``<path>:<line>`` id or its own), or a blank line (nothing). The file may start with a BOM, use CRLF,
and be plain, gzip or zstd, possibly truncated.
"""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
from dataclasses import dataclass

import zstandard
from hypothesis import strategies as st

# Code points that have broken text tools: lone surrogates, NUL and other controls, bidi and zero-width marks,
# BOM/non-characters, combining marks, line/paragraph separators, the highest code point, CJK.
NASTY_CHARACTERS = ["\ud800", "\udbff", "\udc00", "\udfff", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\u202e",
                    "\u200f", "\u2066", "\u200b", "\u200d", "\ufeff", "\ufffe", "\uffff", "\U0010ffff",
                    "\u0301", "\u0338", "\u2028", "\u2029", "\r", "\n", "\t", "中", "\U0001f600", "\\", '"']
ENGLISH = ("The river flows slowly through the valley and the farmers who live along its banks have used "
           "its water for centuries. ")
CHINESE = "长江是亚洲第一长河，全长约六千三百公里，流经青海、西藏、四川、云南和上海。"

WELL_FORMED, MALFORMED, BLANK = "well_formed", "malformed", "blank"

any_text = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from(NASTY_CHARACTERS)),
                   max_size=60)
# Text that the filters might keep (real sentences) with hostile characters mixed in, or pure noise.
document_text = st.one_of(
    any_text,
    st.builds(lambda parts, noise: "".join(p + n for p, n in zip(parts, noise)),
              st.lists(st.sampled_from([ENGLISH, CHINESE, ENGLISH * 3, CHINESE * 3]), min_size=1, max_size=6),
              st.lists(any_text, min_size=6, max_size=6)),
)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), any_text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)), max_leaves=8)


@dataclass(frozen=True)
class Line:
    raw: bytes  # without the line ending
    kind: str  # WELL_FORMED | MALFORMED | BLANK
    id: str | None = None  # the id a well-formed line (or a malformed object with a good id) must come out as
    id_stringified: bool = False  # a malformed line whose id is a non-string JSON value: str() of it is the id


def encode_json(obj: object, escape_non_ascii: bool) -> bytes:
    """`obj` as one JSON line. Unescaped lone surrogates have no UTF-8 form; surrogatepass writes them as the
    (invalid) 3-byte sequences a careless encoder produces, which the reader must reject as invalid_text."""
    return json.dumps(obj, ensure_ascii=escape_non_ascii).encode("utf-8", "surrogatepass")


def _is_valid(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@st.composite
def well_formed_line(draw, number: int) -> Line:
    """A JSON object with a unique valid string id and a string text (which may still be invalid or empty)."""
    record_id = f"doc-{number}-" + draw(any_text).replace("\ud800", "")
    if not _is_valid(record_id):
        record_id = f"doc-{number}"
    record = {"id": record_id, "text": draw(document_text)}
    if draw(st.booleans()):
        record["meta"] = draw(json_value)
    if draw(st.sampled_from([False] * 19 + [True])):  # now and then a multi-MB line, over input.max_chars
        record["text"] += "x" * 1_100_000
    escape = draw(st.booleans())
    raw = encode_json(record, escape)
    if not escape and not _is_valid(json.dumps(record, ensure_ascii=False)):
        # raw lone surrogates made the line invalid UTF-8: rejected under the reader's own id
        return Line(raw, MALFORMED)
    return Line(raw, WELL_FORMED, record_id)


@st.composite
def malformed_line(draw, number: int) -> Line:
    """Wrong JSON types, missing fields, non-objects, broken JSON or random bytes."""
    choice = draw(st.sampled_from(["text_type", "missing_text", "id_type", "not_object", "broken", "bytes"]))
    own_id = f"bad-{number}"
    if choice == "text_type":
        text = draw(st.one_of(st.none(), st.booleans(), st.integers(), st.lists(json_scalar, max_size=2),
                              st.dictionaries(any_text, json_scalar, max_size=2)))
        return Line(encode_json({"id": own_id, "text": text}, True), MALFORMED, own_id)
    if choice == "missing_text":
        return Line(encode_json({"id": own_id, "body": draw(any_text)}, True), MALFORMED, own_id)
    if choice == "id_type":  # a non-string id is stringified: the line comes out once, kept or rejected
        bad_id = draw(st.one_of(st.booleans(), st.floats(), st.lists(st.integers(), max_size=2)))
        return Line(encode_json({"id": bad_id, "text": draw(document_text)}, True), MALFORMED, id_stringified=True)
    if choice == "not_object":
        return Line(encode_json(draw(st.one_of(json_scalar, st.lists(json_scalar, max_size=3))), True), MALFORMED)
    if choice == "broken":
        whole = encode_json({"id": own_id, "text": draw(document_text)}, True)
        return Line(whole[: draw(st.integers(1, len(whole) - 1))], MALFORMED)
    raw = draw(st.binary(min_size=1, max_size=40)).replace(b"\n", b"").replace(b'"', b"")
    return Line(raw, BLANK if not raw.strip() else MALFORMED)


@st.composite
def hostile_lines(draw, max_lines: int = 10) -> list[Line]:
    count = draw(st.integers(0, max_lines))
    lines = []
    for number in range(count):
        kind = draw(st.sampled_from([WELL_FORMED, WELL_FORMED, MALFORMED, BLANK]))
        if kind == WELL_FORMED:
            lines.append(draw(well_formed_line(number)))
        elif kind == MALFORMED:
            lines.append(draw(malformed_line(number)))
        else:
            lines.append(Line(draw(st.sampled_from([b"", b"   ", b"\t", b"\r"])), BLANK))
    return lines


def file_bytes(lines: list[Line], bom: bool, crlf: bool) -> bytes:
    ending = b"\r\n" if crlf else b"\n"
    return (codecs.BOM_UTF8 if bom else b"") + b"".join(line.raw + ending for line in lines)


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def readable_prefix(compressed: bytes, kind: str) -> bytes:
    """What can be decompressed from a (possibly truncated) stream: the complete lines in it must be read."""
    if kind == "gzip":
        return zlib.decompressobj(wbits=31).decompress(compressed)
    if kind == "zstd":
        try:
            return zstandard.ZstdDecompressor().decompressobj().decompress(compressed)
        except zstandard.ZstdError:
            return b""
    return compressed


SUFFIX = {"none": ".jsonl", "gzip": ".jsonl.gz", "zstd": ".jsonl.zst"}


@st.composite
def hostile_file(draw, max_lines: int = 10) -> tuple[list[Line], bytes, str, int | None]:
    """(lines, file bytes, suffix, index of the first line that may be lost to truncation or None)."""
    lines = draw(hostile_lines(max_lines))
    bom, crlf = draw(st.booleans()), draw(st.booleans())
    kind = draw(st.sampled_from(["none", "gzip", "zstd"]))
    data = compress(file_bytes(lines, bom, crlf), kind)
    first_lost = None
    if kind != "none" and data and draw(st.integers(0, 3)) == 0:  # a truncated compressed stream
        data = data[: draw(st.integers(0, len(data) - 1))]
        complete = readable_prefix(data, kind).count(b"\n")
        first_lost = complete
    return lines, data, SUFFIX[kind], first_lost
