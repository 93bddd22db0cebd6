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
