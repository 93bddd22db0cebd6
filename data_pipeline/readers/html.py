"""HTML file reader: one page per `.html`/`.htm` file (optionally `.gz`), id = the file name without its
extensions. The bytes go through the same decode + extract step as a WARC response (readers/webpage.py); with
no HTTP header, the charset comes from `<meta charset>` or detection."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator

from data_pipeline.errors import UnreadableShardError
from data_pipeline.readers.validate import READ_STAGE, ReaderOptions
from data_pipeline.readers.webpage import page_record
from data_pipeline.stage import reject

HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")


def html_id(path: str) -> str:
    name = os.path.basename(path)
    for suffix in sorted(HTML_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_html_records(path: str, options: ReaderOptions) -> Iterator[dict]:
    record_id = html_id(path)
    meta = {"source": path}
    limit = options.web.max_page_bytes
    try:
        if path.lower().endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                body = handle.read(limit + 1)  # a page over the limit is never inflated whole
        else:
            with open(path, "rb") as handle:
                body = handle.read(limit + 1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        yield reject({"id": record_id, "meta": meta, "error": str(err)[:200]}, READ_STAGE, "truncated_file")
        return
    except OSError as err:
        raise UnreadableShardError(f"{path}: {err}") from None
    yield page_record(body, record_id, meta, options)
