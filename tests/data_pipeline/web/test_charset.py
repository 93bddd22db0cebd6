"""Chinese pages in GBK, GB18030 and Big5, with a right, missing or wrong charset label: decoded to the right
text or rejected as undecodable, never mojibake. Text: real sentences of the zh corpus (Big5 ones converted to
Traditional by OpenCC) inside a page with navigation and footer around them."""

from __future__ import annotations

import functools
import gzip

import opencc
import pytest

from data_pipeline.readers.html import read_html_records
from data_pipeline.readers.validate import ReaderOptions
from data_pipeline.stage import REJECT_REASON
from data_pipeline.web.charset import decode_page
from tests.real_text import corpus_records

ENCODINGS = ("gbk", "gb18030", "big5")


@functools.cache
def zh_texts(count: int = 12) -> list[str]:
    texts = (r["text"] for r in corpus_records() if len(r["text"]) > 80)
    return [t for t in texts if sum("\u4e00" <= c <= "\u9fff" for c in t) > 40][:count]


def page(text: str, meta: str = "") -> str:
    return (f"<html><head>{meta}<title>新闻</title></head><body><div class='nav'>首页 | 国内 | 国际 | 体育</div>"
            f"<article><p>{text}</p></article><footer>版权所有 © 2024</footer></body></html>")


@functools.cache
def to_traditional(text: str) -> str:
    return s2t_converter().convert(text)


@functools.cache
def s2t_converter() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")  # loading its dictionaries takes a while: once per test session


def encoded(text: str, encoding: str) -> tuple[str, bytes]:
    """(the text the page really holds, its bytes): characters the encoding lacks become HTML references,
    as servers write them."""
    if encoding == "big5":
        text = to_traditional(text)
    html = page(text)
    return html, html.encode(encoding, "xmlcharrefreplace")


# Big5 bytes decode as GBK without an error: only detection tells that reading is mojibake.
WRONG_LABEL = {"gbk": "big5", "gb18030": "iso-8859-1", "big5": "gbk"}
TRUE_CODEC = {"gbk": "gb18030", "gb18030": "gb18030", "big5": "big5hkscs"}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("label", ["right", "missing", "wrong"])
def test_real_zh_pages_decode_whatever_the_header_says(encoding, label):
    texts = zh_texts()
    assert len(texts) >= 10
    for text in texts:
        html, data = encoded(text, encoding)
        header = {"right": encoding, "missing": None, "wrong": WRONG_LABEL[encoding]}[label]
        decoded = decode_page(data, header)
        assert decoded is not None and decoded.text == data.decode(TRUE_CODEC[encoding])
        assert text.split("，")[0][:10] in decoded.text or encoding == "big5"
        assert decoded.source == ("header" if label == "right" else "detected")


def test_meta_charset_is_used_when_the_header_has_none(tmp_path):
    text = zh_texts(1)[0]
    html = page(text, "<meta charset='gbk'>")
    decoded = decode_page(html.encode("gb18030", "xmlcharrefreplace"))
    assert decoded.source == "meta" and text[:20] in decoded.text


def test_bytes_no_candidate_decodes_are_rejected_not_mojibake(tmp_path):
    data = page("x").encode() + bytes(range(0x80, 0x100)) * 4 + "中文".encode("utf-16-le")
    assert decode_page(data) is None
    path = tmp_path / "bad.html"
    path.write_bytes(data)
    [record] = read_html_records(str(path), ReaderOptions())
    assert record[REJECT_REASON] == "read:undecodable_charset" and "text" not in record


def test_html_file_reader_keeps_the_name_as_id_and_extracts_the_article(tmp_path):
    text = zh_texts(1)[0]
    path = tmp_path / "news-0001.html.gz"
    path.write_bytes(gzip.compress(page(text, "<meta http-equiv='Content-Type' content='text/html; charset=gb2312'>")
                                   .encode("gb18030", "xmlcharrefreplace")))
    [record] = read_html_records(str(path), ReaderOptions())
    assert record["id"] == "news-0001" and record["meta"]["charset"] == "gb18030"
    assert text[:30] in record["text"] and "首页" not in record["text"] and "版权所有" not in record["text"]
