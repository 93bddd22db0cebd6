"""`make demo`'s crawl: through the real pipeline, every page in every encoding comes out as clean zh/en text
with its url and charset, boilerplate gone; the French page, the 404, the image and the request/metadata
records are counted rejections."""

from __future__ import annotations

import json

from data_pipeline.config import compose_pipeline_config
from data_pipeline.executors.local import run_pipeline
from data_pipeline.formats.jsonl import read_jsonl
from data_pipeline.readers import discover_sources
from data_pipeline.run import build_stages
from launch.demo_warc import PAGE_KINDS, generate_demo_warc


def test_demo_crawl_becomes_clean_text_with_url_language_and_charset(tmp_path):
    path = generate_demo_warc(tmp_path / "raw")
    out = tmp_path / "out"
    cfg = compose_pipeline_config([f"input.paths=[{path}]", f"output.dir={out}", "report.enabled=false"])
    stats = run_pipeline(build_stages(cfg), discover_sources(cfg.input), out, workers=1, progress=False)
    kept = [r for p in sorted((out / "kept").glob("*.jsonl.gz")) for r in read_jsonl(p)]
    pages = sum(count for lang, *_, count in PAGE_KINDS if lang != "fr")
    assert len(kept) == pages
    by_encoding = {r["meta"]["url"].split("/")[3]: r["meta"] for r in kept}
    assert by_encoding["big5"]["charset"] == "big5hkscs" and by_encoding["big5"]["charset_source"] == "detected"
    assert by_encoding["gb18030"]["charset_source"] == "meta" and by_encoding["gbk"]["charset"] == "gb18030"
    assert {r["meta"]["lang"] for r in kept} == {"zh", "en"}
    text = "\n".join(r["text"] for r in kept)
    assert not any(junk in text for junk in ("首页", "Sign in", "Comment", "Privacy", "tracker"))
    rules = {f"{stage}:{rule}": n["docs"] for stage, info in stats["stages"].items()
             for rule, n in info.get("rules", {}).items()}
    assert rules["langid:fr"] == 1 and rules["read:http_status"] == 1 and rules["read:not_html"] == 1
    assert rules["read:warc_request"] == rules["read:warc_metadata"] == pages + 1
    json.dumps(stats)
