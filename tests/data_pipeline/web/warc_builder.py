"""WARC bytes for tests, written record by record so a test can make one lie (a wrong Content-Length)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HTML_FIXTURES = REPO / "tests" / "fixtures" / "html"


def real_pages() -> list[tuple[bytes, str, str]]:
    """(html bytes as served, url, hand-marked article text) of the fixture pages."""
    truth = json.loads((HTML_FIXTURES / "ground-truth.json").read_text(encoding="utf-8"))
    return [(gzip.decompress((HTML_FIXTURES / f"{key}.html.gz").read_bytes()), entry["url"], entry["articleBody"])
            for key, entry in sorted(truth.items())]


def warc_record(uri: str, body: bytes, *, record_type: str = "response", record_id: str | None = None,
                content_type: str = "text/html; charset=utf-8", status: str = "200 OK", length_delta: int = 0,
                digest: bool = True, http: bool = True) -> bytes:
    block = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\r\n".encode() + body) if http else body
    warc_content_type = "application/http; msgtype=response" if http else "text/plain"
    record_id = record_id or f"<urn:uuid:{hashlib.md5(uri.encode() + record_type.encode()).hexdigest()}>"
    headers = [("WARC-Type", record_type), ("WARC-Record-ID", record_id), ("WARC-Date", "2024-05-01T08:00:00Z"),
               ("WARC-Target-URI", uri), ("Content-Type", warc_content_type)]
    if digest:
        headers.append(("WARC-Block-Digest", "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode()))
    headers.append(("Content-Length", str(len(block) + length_delta)))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode() + block + b"\r\n\r\n"


def write_warc(path: Path, records: list[bytes], gz: bool = False) -> Path:
    """One gzip member per record for .warc.gz, as the WARC standard recommends."""
    path.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in records) if gz else b"".join(records))
    return path
