"""Bytes of a web page → str, from the HTTP header, then `<meta charset>`, then detection; never mojibake.

A declared charset is used when the bytes decode strictly in it and the detector (resiliparse's
`detect_encoding`, measured 100% right on real Chinese pages in GBK, GB18030 and Big5) does not name a
different multi-byte encoding the bytes also decode in: a GBK page served as `charset=iso-8859-1` or as Big5
decodes without an error in either, and only the detector tells which reading is text. Labels are mapped as
browsers map them (WHATWG), then to the superset Python codec: GBK/GB2312 → GB18030, Big5 → Big5-HKSCS, so the
characters those pages really use decode. Bytes that decode in no candidate are `None` (the caller rejects the
page as undecodable and counts it).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5

# WHATWG's prescan looks at the first 1024 bytes; real pages put the tag a little later too.
META_SCAN_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_SUPERSET = {"gbk": "gb18030", "gb2312": "gb18030", "big5": "big5hkscs", "cp1252": "cp1252"}
_SINGLE_BYTE_PREFIXES = ("cp125", "iso8859", "iso-8859", "koi8", "mac", "ascii", "windows-874", "ibm")


@dataclass(frozen=True)
class Decoded:
    text: str
    charset: str  # the Python codec that decoded it
    source: str  # header | meta | detected | ascii


def charset_of_content_type(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else None


def meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:META_SCAN_BYTES])
    return match.group(1).decode("ascii") if match else None


def codec_for(label: str | None) -> str | None:
    """The Python codec a browser would use for `label`, or None for an unknown label."""
    if not label:
        return None
    html5 = map_encoding_to_html5(label.strip().lower(), fallback_utf8=False)
    if html5 is None:
        return None
    name = _SUPERSET.get(html5, html5)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decodes(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _multi_byte(codec: str) -> bool:
    return not codec.startswith(_SINGLE_BYTE_PREFIXES) and codec not in ("latin-1", "iso8859-1")


def decode_page(data: bytes, header_charset: str | None = None) -> Decoded | None:
    """`data` decoded by the first trustworthy candidate, or None when none decodes it."""
    if data.startswith(codecs.BOM_UTF8):
        text = _decodes(data[len(codecs.BOM_UTF8):], "utf-8")
        return Decoded(text, "utf-8", "bom") if text is not None else None
    if data.isascii():
        return Decoded(data.decode("ascii"), "ascii", "ascii")
    declared = [(source, codec_for(label)) for source, label in (("header", header_charset),
                                                                 ("meta", meta_charset(data)))]
    for source, codec in declared:
        # Valid UTF-8 by chance is vanishingly rare for other encodings' text: a UTF-8 label that decodes holds
        # (and the detector, the costly step, is skipped for the common case).
        if codec == "utf-8" and (text := _decodes(data, codec)) is not None:
            return Decoded(text, codec, source)
    detected = codec_for(detect_encoding(data))
    detected_text = _decodes(data, detected) if detected else None
    for source, codec in declared:
        if codec is None or codec == "utf-8" or (text := _decodes(data, codec)) is None:
            continue
        if detected_text is not None and detected != codec and _multi_byte(detected):
            return Decoded(detected_text, detected, "detected")  # the declared label is wrong (see above)
        return Decoded(text, codec, source)
    if detected_text is not None:
        return Decoded(detected_text, detected, "detected")
    text = _decodes(data, "utf-8")
    return Decoded(text, "utf-8", "detected") if text is not None else None
