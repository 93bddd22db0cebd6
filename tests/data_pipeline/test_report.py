from data_pipeline.formats.jsonl import write_jsonl
from data_pipeline.report import write_report

STATS = {"totals": {"docs_read": 2, "docs_kept": 1, "docs_rejected": 1, "chars_kept": 5},
         "stages": {"length": {"docs_in": 2, "docs_kept": 1, "docs_rejected": 1, "chars_in": 10, "chars_kept": 5,
                               "chars_rejected": 5, "rules": {"too_short": {"docs": 1, "chars": 5}}}},
         "shards": [], "errors": [{"shard": "00001", "source": "bad.jsonl.gz", "error": "not gzip"}]}


def test_report_has_table_errors_and_histograms_even_for_single_values(tmp_path):
    # one document per side, all of the same length: the degenerate histogram range must still plot
    write_jsonl(tmp_path / "kept" / "00000.jsonl.gz", [{"id": "a", "text": "hello", "meta": {"lang": "en",
                                                                                          "quality_score": 0.9}}])
    write_jsonl(tmp_path / "rejected" / "seg0-00000.jsonl.gz", [{"id": "b", "text": "hello", "reject_reason": "x:y",
                                                                 "meta": {"lang": "en"}}])
    report = write_report(tmp_path, STATS).read_text()
    assert "| length | 2 | 1 | 1 | 10 | 5 | too_short (1) |" in report
    assert "`bad.jsonl.gz`: not gzip" in report
    assert (tmp_path / "report" / "chars_histogram.png").stat().st_size > 1000
    assert (tmp_path / "report" / "quality_histogram.png").stat().st_size > 1000


def test_stats_count_rules_and_dropped_lines_per_language_and_source(tmp_path):
    """stats.json: per language and per input file, what was kept and rejected, by which stage:rule, and why lines
    were dropped; each document is counted once and the groups add up to the stage totals. A sentence-dedup
    reject names what it duplicated."""
    import json

    from data_pipeline.config import compose_pipeline_config
    from data_pipeline.formats.jsonl import read_jsonl
    from data_pipeline.run import run
    from tests.real_text import corpus_records

    records = corpus_records()
    zh = [r for r in records if r["id"].startswith("cmrc2018/") and len(r["text"]) > 400][:25]
    en = [r for r in records if r["id"].startswith("botchan/") and len(r["text"]) > 600][:25]
    footer = "\n本文来源于网络，版权归原作者所有。如有侵权，请联系我们删除。转载请注明出处并保留本声明。"
    zh_docs = [dict(r, text=r["text"] + footer) for r in zh[:12]] + zh[12:]
    zh_docs.append({"id": "footer-only", "text": "简讯。" + footer})  # cut to almost nothing: rejected
    zh_docs.append({"id": "tiny-zh", "text": "好"})
    en_docs = [dict(r, text=r["text"] + "\n★★★ ★★★ ★★★ ★★★") for r in en[:5]] + en[5:]  # a symbol line to drop
    for name, docs in (("zh.jsonl", zh_docs), ("en.jsonl", en_docs)):
        (tmp_path / name).write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs) + "{torn\n")
    out = tmp_path / "out"
    run(compose_pipeline_config([f"input.paths=[{tmp_path}/en.jsonl,{tmp_path}/zh.jsonl]", f"output.dir={out}",
                                 "executor.workers=1", "executor.progress=false", "report.enabled=true"]))
    stats = json.loads((out / "stats.json").read_text())

    langs, sources = stats["by_language"], stats["by_source"]
    assert {"zh", "en", "unknown"} <= set(langs)  # unknown: the torn lines, rejected before langid
    for groups in (langs, sources):
        assert sum(g["docs_kept"] for g in groups.values()) == stats["totals"]["docs_kept"]
        assert sum(g["docs_rejected"] for g in groups.values()) == stats["totals"]["docs_rejected"]
        assert sum(g["chars_kept"] for g in groups.values()) == stats["totals"]["chars_kept"]
        for stage, counts in stats["stages"].items():
            for rule, slot in counts["rules"].items():
                assert sum(g["rules"].get(f"{stage}:{rule}", {}).get("docs", 0) for g in groups.values()) == slot["docs"]
    assert langs["unknown"]["rules"] == {"read:invalid_json": {"docs": 2, "chars": 0}}
    assert langs["zh"]["rules"]["sentence_dedup:too_little_left"]["docs"] == 1
    # lines from meta.lines_dropped, characters from the removed lines line cleaning keeps in meta.lines_removed
    assert langs["en"]["lines_dropped"] == {"symbols": {"lines": 5, "chars": 5 * len("★★★ ★★★ ★★★ ★★★")}}
    zh_source = sources[str(tmp_path / "zh.jsonl")]
    assert zh_source["docs_read"] == len(zh_docs) + 1
    assert zh_source["docs_kept"] + zh_source["docs_rejected"] == zh_source["docs_read"]
    assert zh_source["rules"]["sentence_dedup:too_little_left"]["docs"] == 1

    rejected = {r["id"]: r for path in (out / "rejected").glob("*.jsonl.gz") for r in read_jsonl(path)}
    footer_only = rejected["footer-only"]
    assert footer_only["duplicate_of"] in {r["id"] for r in zh[:12]}
    assert [p["text"].strip() for p in footer_only["meta"]["sentence_dedup"]["removed"]] == [footer.strip()]
    report = (out / "report.md").read_text()
    assert "## By language" in report and "## By source" in report and "symbols (5)" in report
