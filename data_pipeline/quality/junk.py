"""Realistic junk documents in zh and en: the negatives for the quality model and the junk-removal benchmark.

Each generator mimics one kind of web junk that reaches a crawl: navigation/boilerplate pages, symbol soup,
repeated lines, keyword-stuffed spam, tag clouds, word salad, mojibake, and templated SEO pages. Generators take
clean sentences (`Material`) so the junk shares the clean text's words; everything is seeded and deterministic.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

_SENTENCE_SPLIT = re.compile(r"(?<=[。！？.!?])\s*")

NAV_EN = ["Home", "About Us", "Contact", "Products", "Services", "Blog", "FAQ", "Login", "Sign Up", "Cart",
          "Privacy Policy", "Terms of Use", "Sitemap", "Careers", "News", "Support", "Search", "Menu"]
NAV_ZH = ["首页", "关于我们", "联系我们", "产品中心", "新闻动态", "网站地图", "登录", "注册", "购物车", "帮助中心",
          "客服热线", "加入收藏", "设为首页", "返回顶部", "上一篇", "下一篇", "更多", "搜索"]
BOILER_EN = ["Copyright © 2024 All rights reserved.", "We use cookies to improve your experience. Accept cookies",
             "Click here to read more", "Subscribe to our newsletter", "Share this: Facebook Twitter Email",
             "Powered by WordPress", "Skip to content", "Back to top", "JavaScript is disabled in your browser."]
BOILER_ZH = ["版权所有 © 2024 保留所有权利", "本站部分内容来自网络，如有侵权请联系删除", "扫一扫关注我们的微信公众号",
             "点击这里阅读全文", "ICP备12345678号", "转载请注明出处", "分享到：微信 微博 QQ空间", "责任编辑：小编"]
SPAM_EN = ["cheap viagra", "casino bonus", "free slots", "payday loan", "xxx videos", "hot singles", "buy cialis",
           "best price", "online betting", "escort service", "click now", "100% free", "limited offer"]
SPAM_ZH = ["六合彩", "时时彩", "娱乐城", "百家乐", "真人视频", "免费注册", "日赚千元", "代孕", "私服外挂", "老虎机",
           "点击进入", "稳赚不赔", "彩票预测", "裸聊"]
SYMBOLS = list("★☆◆◇■□▲△●○♠♣♥♦※→←↑↓│┃─━┏┓┗┛╋▓▒░§¶†‡@#$%^&*+=|~<>{}[]") + ["😀", "🔥", "💰", "👉", "✅"]
CITIES_EN = ["New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Dallas", "Austin", "Seattle", "Denver"]
CITIES_ZH = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆"]


def sentences_of(texts: list[str]) -> list[str]:
    out = []
    for text in texts:
        out.extend(s.strip() for s in _SENTENCE_SPLIT.split(text.replace("\n", " ")) if len(s.strip()) > 8)
    return out


def _words(sentences: list[str], lang: str) -> list[str]:
    if lang == "zh":
        chars = [c for s in sentences for c in s if "\u4e00" <= c <= "\u9fff"]
        return ["".join(chars[i:i + 2]) for i in range(0, len(chars) - 1, 2)] or ["中文"]
    return [w for s in sentences for w in s.split() if w.isalpha()] or ["word"]


@dataclass
class Material:
    """What junk is made from: the clean text's sentences and words (computed once per generate_junk call)."""

    sentences: list[str]
    words: list[str]


def navigation_page(rng: random.Random, material: Material, lang: str) -> str:
    nav, boiler = (NAV_ZH, BOILER_ZH) if lang == "zh" else (NAV_EN, BOILER_EN)
    lines = [" | ".join(rng.sample(nav, 6)) for _ in range(rng.randint(2, 4))]
    lines += rng.sample(nav, rng.randint(5, 10))
    lines.append(rng.choice(material.sentences))
    lines += rng.sample(boiler, 4)
    return "\n".join(lines)


def symbol_soup(rng: random.Random, material: Material, lang: str) -> str:
    words = material.words
    tokens = [rng.choice(SYMBOLS) * rng.randint(1, 4) if rng.random() < 0.6 else rng.choice(words)
              for _ in range(rng.randint(60, 200))]
    return " ".join(tokens) if lang == "en" else "".join(tokens)


def repeated_lines(rng: random.Random, material: Material, lang: str) -> str:
    chosen = rng.sample(material.sentences, min(3, len(material.sentences)))
    return "\n".join(rng.choice(chosen) for _ in range(rng.randint(8, 20)))


def keyword_spam(rng: random.Random, material: Material, lang: str) -> str:
    spam = SPAM_ZH if lang == "zh" else SPAM_EN
    sep = "，" if lang == "zh" else ", "
    lines = [sep.join(rng.choice(spam) for _ in range(rng.randint(5, 12))) for _ in range(rng.randint(4, 10))]
    return "\n".join(lines)


def tag_cloud(rng: random.Random, material: Material, lang: str) -> str:
    words = material.words
    return "\n".join(" ".join(rng.sample(words, min(len(words), rng.randint(1, 3)))) for _ in range(rng.randint(20, 50)))


def word_salad(rng: random.Random, material: Material, lang: str) -> str:
    """Words of real sentences in random order: grammatical signals gone, vocabulary intact."""
    words = material.words
    n = rng.randint(80, 250)
    if lang == "zh":
        return "".join(rng.choice(words) + ("，" if rng.random() < 0.1 else "") for _ in range(n)) + "。"
    return " ".join(rng.choice(words).lower() for _ in range(n)) + "."


_DOUBLE_ENCODED = {"a": "Ã¡", "e": "Ã©", "i": "Ã­", "o": "Ã³", "u": "Ãº", "'": "â€™", "-": "â€”", " ": " Â"}


def mojibake(rng: random.Random, material: Material, lang: str) -> str:
    """UTF-8 decoded with the wrong codec: Chinese read as Latin-1; English with accents double-encoded."""
    text = " ".join(rng.sample(material.sentences, min(4, len(material.sentences))))
    if lang == "zh":
        return text.encode("utf-8").decode("latin-1")
    return "".join(_DOUBLE_ENCODED.get(ch, ch) if rng.random() < 0.5 else ch for ch in text)


def seo_template(rng: random.Random, material: Material, lang: str) -> str:
    cities = CITIES_ZH if lang == "zh" else CITIES_EN
    spam = SPAM_ZH if lang == "zh" else SPAM_EN
    template = "{c}{k}哪家好？{c}{k}价格，{c}{k}电话。" if lang == "zh" else \
        "Best {k} in {c}. Cheap {k} {c}. {k} near {c} call now!"
    keyword = rng.choice(spam)
    return "\n".join(template.format(c=c, k=keyword) for c in rng.sample(cities, rng.randint(5, len(cities))))


GENERATORS: dict[str, Callable[[random.Random, Material, str], str]] = {
    "navigation": navigation_page, "symbol_soup": symbol_soup, "repeated_lines": repeated_lines,
    "keyword_spam": keyword_spam, "tag_cloud": tag_cloud, "word_salad": word_salad, "mojibake": mojibake,
    "seo_template": seo_template,
}


def generate_junk(clean_texts: list[str], lang: str, count: int, seed: int = 0,
                  kinds: list[str] | None = None) -> list[dict]:
    """`count` junk records ({"id", "text", "junk_kind", "lang"}) built from `clean_texts`' sentences."""
    rng = random.Random(seed)
    sentences = sentences_of(clean_texts) or ["This is a sentence."]
    material = Material(sentences, _words(sentences, lang))
    kinds = kinds or list(GENERATORS)
    return [
        {"id": f"junk/{lang}/{i}", "text": GENERATORS[kind](rng, material, lang), "junk_kind": kind, "lang": lang}
        for i, kind in ((i, kinds[i % len(kinds)]) for i in range(count))
    ]
