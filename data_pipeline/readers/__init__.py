"""Readers: every supported input format → records (bad rows become rejected records, never crashes)."""

from data_pipeline.readers.source import InputConfig, ShardSource, discover_sources, read_input_records
from data_pipeline.readers.validate import ReaderOptions

__all__ = ["InputConfig", "ReaderOptions", "ShardSource", "discover_sources", "read_input_records"]
