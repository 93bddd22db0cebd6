"""A small crawl for `make demo`: a WARC file of web pages the pipeline turns into clean text.

Pages are HTML around generated articles (launch.demo_corpus's grammar; the demo ships no third-party text):
navigation, a comment box, scripts and a footer around the article, in the encodings Chinese sites serve —
UTF-8, GBK, GB18030 named only in `<meta charset>`, Big5 (Traditional script) served with a wrong `charset=gbk`
header — plus English pages, a French page (langid rejects it), and what every crawl also holds: a request
and a metadata record per page, a 404 page and an image. Deterministic for a seed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
from pathlib import Path

import opencc

from launch.demo_corpus import en_article, zh_article

FRENCH = ("Les habitants du village ont restauré le vieux moulin au bord de la rivière. Les travaux ont duré "
          "trois ans et ont été financés par une association locale. Aujourd'hui, le moulin accueille des visiteurs "
          "chaque week-end et les écoles de la région y organisent des sorties pédagogiques.")
# (language, body encoding, Content-Type charset in the HTTP header or None, <meta charset> or None, pages)
PAGE_KINDS = [("zh", "utf-8", "utf-8", None, 8), ("zh", "gbk", "gbk", None, 5), ("zh", "gb18030", None, "gb18030", 3),
              ("zh", "big5", "gbk", None, 3), ("en", "utf-8", "utf-8", None, 8), ("fr", "utf-8", "utf-8", None, 1)]


def _page(title: str, paragraphs: list[str], lang: str, meta_charset: str | None) -> str:
    nav = {"zh": "首页 | 新闻 | 科技 | 文化 | 登录", "en": "Home | News | Science | Culture | Sign in"}.get(lang, "Accueil")
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html><head>{meta}<title>{title}</title><script>var tracker = 1;</script></head>"
            f"<body><div class='nav'>{nav}</div><article><h1>{title}</h1>{body}</article>"
            f"<div class='comments'><p>Comment: first!</p></div><footer>© 2024 Example Media · Contact · Privacy"
            f"</footer></body></html>")


def _sentences(text: str, lang: str) -> list[str]:
    end = "。" if lang == "zh" else ". "
    parts = [part for part in text.split(end) if part.strip()]
    return [part + end.strip() for part in parts]


def _record(record_type: str, uri: str, number: int, block: bytes, content_type: str) -> bytes:
    digest = base64.b32encode(hashlib.sha1(block).digest()).decode()
    head = (f"WARC/1.1\r\nWARC-Type: {record_type}\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-"
            f"{number:012d}>\r\nWARC-Date: 2024-05-01T08:{number // 60 % 60:02d}:{number % 60:02d}Z\r\n"
            f"WARC-Target-URI: {uri}\r\nWARC-Block-Digest: sha1:{digest}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(block)}\r\n\r\n")
    return gzip.compress(head.encode() + block + b"\r\n\r\n", mtime=0)  # one gzip member per record


def _response(uri: str, number: int, body: bytes, content_type: str, status: str = "200 OK") -> bytes:
    http = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return _record("response", uri, number, http + body, "application/http; msgtype=response")


def generate_demo_warc(out_dir: Path, seed: int = 0) -> Path:
    """Write `crawl.warc.gz` under out_dir and return its path."""
    rng = random.Random(seed)
    to_traditional = opencc.OpenCC("s2t")
    records, number = [], 0
    for lang, encoding, header, meta, pages in PAGE_KINDS:
        for page in range(pages):
            if lang == "fr":
                paragraphs = [FRENCH]
            else:  # one article, a paragraph every two sentences
                sentences = _sentences(zh_article(rng) if lang == "zh" else en_article(rng), lang)
                paragraphs = [("" if lang == "zh" else " ").join(sentences[i:i + 2]) for i in range(0, len(sentences), 2)]
                if encoding == "big5":
                    paragraphs = [to_traditional.convert(p) for p in paragraphs]
            uri = f"https://{lang}.example.com/{encoding}/{page}.html"
            title = {"zh": f"地方新闻 第{page + 1}期", "en": f"Local news, issue {page + 1}"}.get(lang, "Le moulin")
            html = _page(title, paragraphs, lang, meta)
            content_type = f"text/html; charset={header}" if header else "text/html"
            records.append(_record("request", uri, number, f"GET /{page}.html HTTP/1.1\r\n\r\n".encode(),
                                   "application/http; msgtype=request"))
            records.append(_response(uri, number + 1, html.encode(encoding, "xmlcharrefreplace"), content_type))
            records.append(_record("metadata", uri, number + 2, b"fetchTimeMs: 120\r\n", "application/warc-fields"))
            number += 3
    records.append(_response("https://en.example.com/missing.html", number, b"<p>Not Found</p>", "text/html",
                             "404 Not Found"))
    records.append(_response("https://en.example.com/logo.png", number + 1, b"\x89PNG\r\n\x1a\n" + bytes(64),
                             "image/png"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "crawl.warc.gz"
    path.write_bytes(b"".join(records))
    return path
