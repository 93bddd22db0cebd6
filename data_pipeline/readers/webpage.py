"""One fetched page (bytes) → a pipeline record: decoded, main text extracted, or rejected with the reason.

Shared by the WARC reader (`response` records) and the HTML file reader. Reasons (all `read:<rule>`):
`page_too_large` (over `input.web.max_page_bytes`, never parsed), `binary_content` (NUL bytes: an image or
archive served as HTML), `undecodable_charset` (no candidate charset decodes the bytes; see web.charset),
`no_main_text` (the extractor found no article text: an empty, navigation-only or broken page).
"""

from __future__ import annotations

from data_pipeline.readers.validate import READ_STAGE, ReaderOptions, to_record
from data_pipeline.stage import reject
from data_pipeline.web.charset import decode_page
from data_pipeline.web.extract import extract_main_text

BINARY_SNIFF_BYTES = 1024


def page_record(body: bytes, record_id: str, meta: dict, options: ReaderOptions,
                header_charset: str | None = None) -> dict:
    """The record for one page's bytes; `meta` (url, fetch_time...) is kept on kept and rejected records."""
    record = {"id": record_id, "meta": dict(meta)}
    if len(body) > options.web.max_page_bytes:
        return reject(record, READ_STAGE, "page_too_large")
    if b"\x00" in body[:BINARY_SNIFF_BYTES]:
        return reject(record, READ_STAGE, "binary_content")
    decoded = decode_page(body, header_charset)
    if decoded is None:
        return reject(record, READ_STAGE, "undecodable_charset")
    record["meta"].update(charset=decoded.charset, charset_source=decoded.source)
    text = extract_main_text(decoded.text, options.web.extract)
    if not text:
        return reject(record, READ_STAGE, "no_main_text")
    record["text"] = text
    return to_record(record, record_id, options)
