"""Main text of a decoded HTML page: boilerplate, navigation, comments and scripts removed, one paragraph a line.

Two extractors, chosen by `input.web.extractor` (measured on 91 hand-marked real pages, docs/benchmarks.md):
- `trafilatura` (default): F1 0.97 with `favor=precision`; about 20 pages per CPU-second.
- `resiliparse`: `extract_plain_text(main_content=True)`, F1 0.90, about 6x faster.
`favor` is trafilatura's precision/recall trade-off (precision | balanced | recall); resiliparse has none.
"""

from __future__ import annotations

from dataclasses import dataclass

EXTRACTORS = ("trafilatura", "resiliparse")
FAVORS = ("precision", "balanced", "recall")


@dataclass(frozen=True)
class ExtractOptions:
    extractor: str = "trafilatura"
    favor: str = "precision"


def extract_main_text(html: str, options: ExtractOptions) -> str:
    """The page's main text ("" when the extractor finds none); paragraphs are separate lines."""
    if options.extractor == "resiliparse":
        # lazy: only the chosen extractor is imported (trafilatura alone costs ~0.5 s in every worker)
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        return extract_plain_text(HTMLTree.parse(html), main_content=True, alt_texts=False, links=False,
                                  comments=False).strip()
    import trafilatura  # lazy: ~0.5 s per worker; only extractor=trafilatura needs it

    text = trafilatura.extract(html, include_comments=False, include_tables=True,
                               favor_precision=options.favor == "precision",
                               favor_recall=options.favor == "recall")
    return (text or "").strip()
