"""How often exact 3-sentence runs repeat in clean text and in real site boilerplate: the measurement behind
`dedup.sentence.max_docs` (docs/dedup.md).

    .venv/bin/python bench/measure_sentence_repeats.py

1. ../shared/data/corpus (clean Wikipedia, novel, web text): per span found in several documents, how many, with
   the stage's own spans (`SentenceDedupStage.spans`) at min_span_chars 30 (default) and 1.
2. ../shared/data/html: the sites with two pages; the visible text of each page (block tags -> lines, scripts
   dropped) and the spans both pages of a site share, and how many of them lie inside a hand-marked article.
"""

from __future__ import annotations

import collections
import gzip
import json
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

from data_pipeline.dedup import SentenceDedupConfig, SentenceDedupStage
from data_pipeline.dedup.text import normalize_for_hash

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
BLOCK = {"p", "div", "li", "br", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "section", "article", "header",
         "footer", "nav", "ul", "ol", "title", "span", "a"}


class VisibleText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style", "noscript")
        if tag in BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "noscript"):
            self.hidden = max(0, self.hidden - 1)
        if tag in BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(path: Path) -> str:
    parser = VisibleText()
    parser.feed(gzip.open(path, "rt", encoding="utf-8", errors="replace").read())
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def clean_corpus_repeats() -> None:
    records = [json.loads(line) for path in sorted((DATA / "corpus").glob("*.jsonl")) for line in path.open()]
    for min_chars in (30, 1):
        stage = SentenceDedupStage(SentenceDedupConfig(min_span_chars=min_chars))
        docs_of, example = collections.defaultdict(set), {}
        for record in records:
            for start, end, key in stage.spans(record["text"]):
                docs_of[key].add(record["id"])
                example[key] = record["text"][start:end]
        repeated = {key: ids for key, ids in docs_of.items() if len(ids) > 1}
        histogram = sorted(collections.Counter(len(ids) for ids in repeated.values()).items())
        print(f"clean corpus ({len(records)} docs), min_span_chars={min_chars}: {len(docs_of)} spans, "
              f"documents per repeated span: {histogram}")
        for key, ids in sorted(repeated.items(), key=lambda kv: -len(kv[1]))[:3]:
            print(f"    {len(ids)} docs: {example[key][:60]!r}")


def site_boilerplate() -> None:
    truth = json.loads((DATA / "html" / "ground-truth.json").read_text())
    by_site = collections.defaultdict(list)
    for sha, page in sorted(truth.items()):
        by_site[urllib.parse.urlparse(page["url"]).netloc].append(sha)
    stage = SentenceDedupStage(SentenceDedupConfig())
    shared_total = in_article = sites = 0
    for site, shas in sorted(by_site.items()):
        if len(shas) < 2:
            continue
        sites += 1
        spans = []
        for sha in shas[:2]:
            text = visible_text(DATA / "html" / "pages" / f"{sha}.html.gz")
            spans.append({key: text[start:end] for start, end, key in stage.spans(text)})
        shared = set(spans[0]) & set(spans[1])
        articles = [normalize_for_hash(truth[sha]["articleBody"]) for sha in shas[:2]]
        inside = [key for key in shared
                  if any(normalize_for_hash(spans[i][key]) in articles[i] for i in range(2))]
        shared_total += len(shared)
        in_article += len(inside)
        print(f"  {site}: {len(shared)} spans shared by its two pages, {len(inside)} inside an article")
    print(f"real sites with two pages: {sites}; spans shared within a site: {shared_total}; inside a hand-marked "
          f"article: {in_article}")


if __name__ == "__main__":
    clean_corpus_repeats()
    site_boilerplate()
