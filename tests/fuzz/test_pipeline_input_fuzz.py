"""Hostile files through the real pipeline (every default stage, in process): never a crash, every line
accounted for, outputs the next stage can read. The `read` stage alone gets many more examples than the whole
pipeline, which costs ~0.2 s an example."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from data_pipeline.config import compose_pipeline_config
from data_pipeline.errors import UnreadableShardError
from data_pipeline.executors.local import run_pipeline
from data_pipeline.formats.jsonl import read_jsonl
from data_pipeline.readers import ReaderOptions, discover_sources
from data_pipeline.readers.jsonl import read_jsonl_records
from data_pipeline.readers.parquet import read_parquet_records
from data_pipeline.run import build_stages
from data_pipeline.stage import REJECT_REASON
from data_pipeline.tokenizer.input_records import RecordFieldsConfig, read_documents
from tests.fuzz.hostile_input import BLANK, WELL_FORMED, any_text, document_text, hostile_file, json_value


def check_every_line_accounted(lines, first_lost, path: str, records: list[dict]) -> None:
    """Each well-formed line's id exactly once; each malformed line exactly once (under its own or the reader's
    fallback id); blank lines nothing; a truncated file: only what may follow the break can be missing, and the
    break is one `truncated_file` rejection at most."""
    broken = [r for r in records if r.get(REJECT_REASON) == "read:truncated_file"]
    ids = Counter(r["id"] for r in records if r not in broken)  # the break's id is the line it cut
    complete = len(lines) if first_lost is None else first_lost
    for number, line in enumerate(lines):
        fallback = f"{path}:{number + 1}"
        at_most = 1 if number >= complete else None
        if line.kind == WELL_FORMED:
            assert ids[line.id] == 1 or (at_most and ids[line.id] == 0), (line, ids[line.id])
        elif line.kind == BLANK:
            assert ids[fallback] == 0
        elif line.id is not None:
            assert ids[line.id] + ids[fallback] == 1 or at_most, line
        elif not line.id_stringified:
            assert ids[fallback] == 1 or (at_most and ids[fallback] == 0), line
    assert len(broken) <= (0 if first_lost is None else 1)
    if first_lost is None:
        assert len(records) == sum(line.kind != BLANK for line in lines)
    for record in records:  # whatever the reader passes on can be written and has a usable text
        json.dumps(record, ensure_ascii=False).encode("utf-8")
        if REJECT_REASON not in record:
            assert isinstance(record["text"], str) and record["text"].strip()


@given(hostile_file())
@settings(max_examples=settings().max_examples * 4)
def test_reader_accounts_for_every_line(hostile):
    lines, data, suffix, first_lost = hostile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        try:
            records = list(read_jsonl_records(str(path), ReaderOptions()))
        except UnreadableShardError:  # the executor's stats["errors"]: only for a stream broken at its start
            assert first_lost == 0
            return
        check_every_line_accounted(lines, first_lost, str(path), records)


@given(hostile_file(max_lines=8))
def test_whole_pipeline_survives_and_its_outputs_are_readable(hostile):
    lines, data, suffix, first_lost = hostile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        out = Path(tmp) / "out"
        cfg = compose_pipeline_config([f"input.paths=[{path}]", f"output.dir={out}"])
        stats = run_pipeline(build_stages(cfg), discover_sources(cfg.input), out, workers=1, progress=False)

        kept = [r for p in sorted((out / "kept").glob("*.jsonl.gz")) for r in read_jsonl(p)]
        rejected = [r for p in sorted((out / "rejected").glob("*.jsonl.gz")) for r in read_jsonl(p)]
        if not stats["errors"]:
            check_every_line_accounted(lines, first_lost, str(path), kept + rejected)
        assert stats["totals"]["docs_read"] == len(kept) + len(rejected)
        assert stats["totals"]["docs_kept"] == len(kept)
        assert sum(s["docs_rejected"] for s in stats["stages"].values()) == len(rejected)
        assert json.loads((out / "stats.json").read_text()) == stats
        # the next stage (train_tokenizer / tokenize) reads every kept record, rejecting none
        rejections: dict[str, int] = {}
        documents = [d for p in sorted((out / "kept").glob("*.jsonl.gz"))
                     for d in read_documents(p, RecordFieldsConfig(), rejections)]
        assert len(documents) == len(kept) and rejections == {}


parquet_rows = st.lists(st.fixed_dictionaries(
    {"id": st.one_of(st.none(), any_text), "text": st.one_of(st.none(), document_text)},
    optional={"extra": json_value.map(json.dumps)}), max_size=6)


@given(parquet_rows)
def test_parquet_rows_are_each_read_once(rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{k: _valid_or_none(v) for k, v in row.items()} for row in rows]  # Arrow refuses lone surrogates
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        pq.write_table(pa.Table.from_pylist(rows) if rows else pa.table({"text": pa.array([], pa.string())}),
                       path)
        records = list(read_parquet_records(str(path), ReaderOptions()))
        assert len(records) == len(rows)
        for record in records:
            json.dumps(record, ensure_ascii=False).encode("utf-8")


def _valid_or_none(value):
    try:
        value.encode("utf-8") if isinstance(value, str) else None
    except UnicodeEncodeError:
        return None
    return value


@given(st.binary(max_size=300), st.sampled_from(["file", "paragraph"]))
def test_text_files_never_crash(data, mode):
    from data_pipeline.readers.text import read_text_records

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.txt"
        path.write_bytes(data)
        for record in read_text_records(str(path), ReaderOptions(), mode):
            json.dumps(record, ensure_ascii=False).encode("utf-8")

