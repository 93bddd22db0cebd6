"""A small raw zh/en corpus for `make demo`, generated (the demo ships no third-party text).

It looks like what a crawl hands the pipeline: clean Chinese and English articles built from a grammar with a
few thousand word forms (so a 2,000-token SentencePiece vocabulary has real merges to learn), plus the dirt
the pipeline must remove — navigation boilerplate, symbol soup, repeated-line spam, too-short fragments,
exact copies and near-copies of articles, and a malformed JSON line. Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

ZH_SUBJECTS = "研究人员 学生 工程师 农民 医生 老师 科学家 城市居民 游客 作者 公司 政府 图书馆 博物馆 乐队 球队".split()
ZH_VERBS = "发现了 讨论了 建造了 改进了 记录了 研究了 参观了 介绍了 保护了 设计了 分析了 描述了 推广了".split()
ZH_OBJECTS = (
    "一座古老的桥梁 新的能源技术 河流的生态环境 传统的手工艺 城市的交通系统 历史文献 山区的植物 "
    "海洋中的鱼类 当地的方言 古代的天文观测 现代的建筑风格 农业灌溉方法 数字化的档案 高速铁路网络 "
    "儿童教育计划 社区医疗服务 季节性的气候变化 民间音乐 地方戏曲 茶叶种植"
).split()
ZH_ADVERBIALS = (
    "在二十世纪初 在过去十年里 于2019年 在南方的小镇上 在一次国际会议上 经过多年的努力 "
    "在大学的实验室里 在春节期间 在长江沿岸 在北方的草原上 在一个雨季 在西部的高原上 "
    "在沿海的港口 在上个世纪末 在一所中学里 在老城区"
).split()
ZH_TAILS = (
    "这一成果受到了广泛关注 相关报告随后发表 许多人因此受益 这项工作仍在继续 专家认为意义重大 "
    "当地媒体进行了报道 后来被写入教科书 这引起了新的讨论 参与者表示收获很大 其中的细节仍有争议 "
    "第二年又举办了展览 不少学校把它列为课题 附近的村庄也开始效仿 有关部门给予了支持"
).split()

EN_SUBJECTS = (
    "The researchers|A local teacher|The engineers|Many farmers|The city council|A young writer|"
    "The museum staff|Several students|The orchestra|A small company|The river authority|Visiting scholars"
).split("|")
EN_VERBS = (
    "described|rebuilt|studied|improved|documented|celebrated|measured|restored|designed|explained|"
    "questioned|mapped"
).split("|")
EN_OBJECTS = (
    "an old stone bridge|the northern railway|the history of the harbour|a new irrigation method|"
    "the migration of birds|a collection of folk songs|the city's water supply|an early printing press|"
    "the mountain forests|a forgotten manuscript|the weather of the coast|a traditional tea ceremony|"
    "the first public library|a network of small schools|the ruins of a temple|the local dialect"
).split("|")
EN_ADVERBIALS = (
    "in the early twentieth century|over the last decade|in 2019|after years of work|during the winter|"
    "at an international meeting|in a small coastal town|with help from volunteers|for the first time|"
    "in the spring of 1987|on a quiet island|near the old market|under difficult conditions"
).split("|")
EN_TAILS = (
    "and the results were published soon after.|which drew wide attention.|and the work still continues today.|"
    "and many people benefited from it.|although some questions remain open.|as newspapers later reported.|"
    "to the surprise of their neighbours.|and a museum now tells the story.|which changed how schools taught it.|"
    "while critics asked for more evidence.|and the town held a festival to mark it.|before moving on to new work."
).split("|")

BOILERPLATE = [
    "首页 | 新闻 | 体育 | 娱乐 | 登录 | 注册\n版权所有 © 2023 保留所有权利\n点击这里 阅读全文",
    "Home | About | Contact | Login\nCopyright 2023 All rights reserved.\nClick here to subscribe.",
]


def _parts(rng: random.Random, n: int, *lists: list[str]) -> list[tuple[str, ...]]:
    """n sentences' worth of parts, each list drawn without replacement: within one article no phrase
    repeats, as in real prose (the pipeline's repetition filter rightly rejects text that loops)."""
    return list(zip(*(rng.sample(options, n) for options in lists)))


def zh_article(rng: random.Random) -> str:
    n = rng.randint(4, 8)
    parts = _parts(rng, n, ZH_ADVERBIALS, ZH_SUBJECTS, ZH_VERBS, ZH_OBJECTS, ZH_TAILS)
    return "".join(f"{when}，{who}{did}{what}，{then}。" for when, who, did, what, then in parts)


def en_article(rng: random.Random) -> str:
    n = rng.randint(4, 8)
    parts = _parts(rng, n, EN_ADVERBIALS, EN_SUBJECTS, EN_VERBS, EN_OBJECTS, EN_TAILS)
    return " ".join(f"{when.capitalize()}, {who.lower()} {did} {what} {then}" for when, who, did, what, then in parts)


def junk_document(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice(BOILERPLATE)
    if kind == 1:
        return "".join(rng.choice("#$%&*@!~^<>{}[]|=+") for _ in range(rng.randint(200, 400)))
    if kind == 2:
        line = rng.choice(["限时抢购 特价促销 立即购买！", "BUY NOW!!! cheap deals click here"])
        return "\n".join([line] * rng.randint(15, 30))
    return rng.choice(["好", "ok", "。。。", "test"])


def near_copy(text: str, rng: random.Random) -> str:
    """A copy with one small edit, as re-posted articles have."""
    cut = rng.randrange(len(text) // 2, len(text))
    return text[:cut] + rng.choice(["！", "。", " Indeed.", "（转载）"]) + text[cut:]


def generate_demo_corpus(out_dir: Path, seed: int = 0, zh_docs: int = 700, en_docs: int = 500) -> list[Path]:
    """Write `zh_web.jsonl` and `en_web.jsonl.gz` under out_dir; returns their paths."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for lang, count, make, name in (("zh", zh_docs, zh_article, "zh_web.jsonl"),
                                    ("en", en_docs, en_article, "en_web.jsonl.gz")):
        docs = [make(rng) for _ in range(count)]
        docs += [junk_document(rng) for _ in range(count // 10)]
        docs += [rng.choice(docs[:count]) for _ in range(count // 20)]  # exact copies
        docs += [near_copy(rng.choice(docs[:count]), rng) for _ in range(count // 20)]
        rng.shuffle(docs)
        lines = [
            json.dumps({"id": f"{lang}-{i:05d}", "text": text, "source": f"{lang}_web", "url": f"https://example.org/{lang}/{i}"},
                       ensure_ascii=False)
            for i, text in enumerate(docs)
        ]
        lines.insert(len(lines) // 2, '{"id": "broken-line", "text": "unterminated')  # a crawl's torn record
        path = out_dir / name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        paths.append(path)
    return paths
