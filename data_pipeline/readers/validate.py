"""Turn one parsed input row into a pipeline record, or a rejected record that says what was wrong with it."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.stage import REJECT_REASON, reject
from data_pipeline.text_validity import INVALID_TEXT, holds_lone_surrogate, with_replacement_characters
from data_pipeline.web.options import WebOptions

READ_STAGE = "read"
RAW_PREVIEW_CHARS = 2000  # how much of an unparseable line a rejected record keeps, for the audit


@dataclass(frozen=True)
class ReaderOptions:
    text_field: str = "text"
    id_field: str = "id"
    max_chars: int = 1_000_000  # longer documents are rejected (read:too_long), never truncated silently
    web: WebOptions = field(default_factory=WebOptions)  # WARC/WET/HTML input: extraction and page limits


def rejected_raw(record_id: str, rule: str, raw: str = "") -> dict:
    """A rejected record for input that never became a dict (bad JSON, bad UTF-8...)."""
    record = {"id": record_id}
    if raw:
        record["raw"] = raw[:RAW_PREVIEW_CHARS]
    return reject(record, READ_STAGE, rule)


def to_record(row: object, fallback_id: str, options: ReaderOptions, may_hold_lone_surrogate: bool = True) -> dict:
    """`row` as a record with string `id` and `text` (other fields kept), or rejected with the reason.

    Every reader ends here, so this is where text is made safe for every later stage and writer: a row holding
    a lone surrogate anywhere is rejected as `invalid_text` (see data_pipeline.text_validity). A reader that
    knows a row cannot hold one (its JSON line has no ``\\uD8..`` escape) passes False to skip the scan.
    """
    if not isinstance(row, dict):
        return rejected_raw(fallback_id, "not_an_object", repr(row))  # repr() escapes lone surrogates
    invalid_text = may_hold_lone_surrogate and holds_lone_surrogate(row)
    record = with_replacement_characters(row) if invalid_text else dict(row)
    if REJECT_REASON in record:  # input that an earlier run rejected (e.g. re-reading OUT/rejected/)
        record["previous_reject_reason"] = record.pop(REJECT_REASON)
    raw_id = record.pop(options.id_field, None) if options.id_field != "id" else record.get("id")
    record["id"] = fallback_id if raw_id is None or raw_id == "" else str(raw_id)
    if options.text_field != "text":
        if "text" in record:  # keep a clashing input field rather than overwrite it
            record["text_original_field"] = record.pop("text")
        if options.text_field in record:
            record["text"] = record.pop(options.text_field)
    if invalid_text:
        return reject(record, READ_STAGE, INVALID_TEXT)
    text = record.get("text")
    if text is None:
        return reject(record, READ_STAGE, "missing_text")
    if not isinstance(text, str):
        return reject(record, READ_STAGE, "text_not_string")
    if not text.strip():
        return reject(record, READ_STAGE, "empty_text")
    if len(text) > options.max_chars:
        return reject(record, READ_STAGE, "too_long")
    return record
