"""Main-text extraction: precision/recall/F1 with the benchmark's own scoring, and pages per CPU-second, our
extraction path (readers/webpage.py: charset decoding, extraction, record checks) vs the library alone.

    .venv/bin/python bench/bench_html_extraction.py [--repeat 3]

Pages: ../shared/data/html/ (91 real news and blog pages with hand-marked article text, half of Zyte's
article-extraction benchmark; its README). Scoring, as the benchmark's evaluate.py does it: words (\\w+),
shingles of 4 words compared as multisets, per page tp/fp/fn normalised by their sum, precision and recall
averaged over pages (pages where they are defined), F1 from the two means. The library alone is called as the
benchmark's own runner calls it, on text the benchmark decoded as UTF-8, with the same settings as ours.
Goals (issue 23): F1 >= 0.95 and our pages per CPU-second >= 0.9 of the library alone; exits 1 when missed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_pipeline.readers.validate import ReaderOptions  # noqa: E402
from data_pipeline.readers.webpage import page_record  # noqa: E402
from data_pipeline.web.extract import ExtractOptions  # noqa: E402
from data_pipeline.web.options import WebOptions  # noqa: E402

DATA = REPO / ".." / "shared" / "data" / "html"
WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter:
    words = WORD.findall(text or "")
    return Counter(tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1)) if words[i:i + n])


def page_counts(truth: str, predicted: str) -> tuple[float, float, float]:
    want, got = shingles(truth), shingles(predicted)
    tp = sum((want & got).values())
    fp = sum((got - want).values())
    fn = sum((want - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def scores(counts: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    def precision(tp, fp, fn):
        return 1.0 if fp == fn == 0 else 0.0 if tp == fp == 0 else tp / (tp + fp)

    def recall(tp, fp, fn):
        return 1.0 if fp == fn == 0 else 0.0 if tp == fn == 0 else tp / (tp + fn)

    p = statistics.mean(precision(*c) for c in counts if c[0] + c[1] > 0)
    r = statistics.mean(recall(*c) for c in counts if c[0] + c[2] > 0)
    return p, r, 2 * p * r / (p + r)


def measure(name: str, extract: Callable[[bytes], str], pages: dict, truth: dict, repeat: int) -> dict:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        texts = {key: extract(body) for key, body in pages.items()}
        best = min(best, time.process_time() - started)
    p, r, f1 = scores([page_counts(truth[key]["articleBody"], texts[key]) for key in pages])
    row = {"name": name, "precision": p, "recall": r, "f1": f1, "pages_per_cpu_s": len(pages) / best}
    print(f"{name:<44} P={p:.3f} R={r:.3f} F1={f1:.3f}  {row['pages_per_cpu_s']:.1f} pages/CPU-s", flush=True)
    return row


def ours(extractor: str, favor: str) -> Callable[[bytes], str]:
    options = ReaderOptions(web=WebOptions(ExtractOptions(extractor, favor)))
    return lambda body: page_record(body, "page", {}, options, "utf-8").get("text", "")


def trafilatura_alone(favor: str) -> Callable[[bytes], str]:
    import trafilatura

    def extract(body: bytes) -> str:
        return trafilatura.extract(body.decode("utf-8"), include_comments=False, include_tables=True,
                                   favor_precision=favor == "precision", favor_recall=favor == "recall") or ""
    return extract


def resiliparse_alone(body: bytes) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return extract_plain_text(HTMLTree.parse(body.decode("utf-8")), main_content=True, alt_texts=False,
                              links=False, comments=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per extractor (best is kept)")
    args = parser.parse_args()
    import logging

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # "discarding data" notes on every empty block
    truth = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {key: gzip.decompress((DATA / "pages" / f"{key}.html.gz").read_bytes()) for key in sorted(truth)}
    print(f"{len(pages)} pages from {DATA.resolve()}")
    rows = []
    for favor in ("precision", "balanced"):
        rows.append(measure(f"ours: trafilatura favor={favor}", ours("trafilatura", favor), pages, truth,
                            args.repeat))
        rows.append(measure(f"trafilatura.extract alone, favor={favor}", trafilatura_alone(favor), pages, truth,
                            args.repeat))
    rows.append(measure("ours: resiliparse", ours("resiliparse", "balanced"), pages, truth, args.repeat))
    rows.append(measure("resiliparse extract_plain_text alone", resiliparse_alone, pages, truth, args.repeat))
    default, alone = rows[0], rows[1]
    ratio = default["pages_per_cpu_s"] / alone["pages_per_cpu_s"]
    print(f"default path (trafilatura, favor=precision): F1 {default['f1']:.3f} (goal >= 0.95), "
          f"throughput {ratio:.2f} of the library alone (goal >= 0.9)")
    return 0 if default["f1"] >= 0.95 and ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
