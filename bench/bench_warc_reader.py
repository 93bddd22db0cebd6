"""WARC reader memory: peak RSS while streaming a small and a 10x bigger WARC of real pages, and the bytes per
record that follow from the difference (a streaming reader keeps it near 0).

    .venv/bin/python bench/bench_warc_reader.py [--records 300]

Each file holds the 91 pages of ../shared/data/html/ as `response` records, repeated (one gzip member per
record). Each size runs in its own process (peak RSS of a fresh interpreter); extraction is resiliparse's, so
the run is quick: the reader and the page step are the same for either extractor.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO / ".." / "shared" / "data" / "html"


def write_warc(path: Path, records: int) -> None:
    from tests.data_pipeline.web.warc_builder import warc_record

    truth = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    pages = [(gzip.decompress((DATA / "pages" / f"{k}.html.gz").read_bytes()), v["url"]) for k, v in truth.items()]
    with path.open("wb") as out:
        for i in range(records):
            body, url = pages[i % len(pages)]
            out.write(gzip.compress(warc_record(f"{url}#{i}", body), compresslevel=1))


def read_all(path: str) -> None:
    from data_pipeline.readers.validate import ReaderOptions
    from data_pipeline.readers.warc import read_warc_records
    from data_pipeline.web.extract import ExtractOptions
    from data_pipeline.web.options import WebOptions

    options = ReaderOptions(web=WebOptions(ExtractOptions("resiliparse")))
    started = time.perf_counter()
    count = sum(1 for _ in read_warc_records(path, options))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"records": count, "peak_rss_kib": peak_kib, "seconds": time.perf_counter() - started}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=300, help="records in the small file (the big has 10x)")
    parser.add_argument("--read", help=argparse.SUPPRESS)  # the child process: read this file and report
    args = parser.parse_args()
    if args.read:
        read_all(args.read)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for records in (args.records, 10 * args.records):
            path = Path(tmp) / f"{records}.warc.gz"
            write_warc(path, records)
            out = subprocess.run([sys.executable, __file__, "--read", str(path)], check=True, capture_output=True,
                                 text=True).stdout
            row = {**json.loads(out.strip().splitlines()[-1]), "file_mib": path.stat().st_size / 2**20}
            rows.append(row)
            print(f"{row['records']:>6} records, {row['file_mib']:7.1f} MiB file: peak RSS "
                  f"{row['peak_rss_kib'] / 1024:7.1f} MiB ({row['seconds']:.1f} s)", flush=True)
    small, big = rows
    per_record = (big["peak_rss_kib"] - small["peak_rss_kib"]) * 1024 / (big["records"] - small["records"])
    print(f"peak RSS grows {per_record:.0f} bytes per record ({big['file_mib'] / small['file_mib']:.0f}x the file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
