"""Crawled web pages → clean text: charset decoding (`charset`), main-text extraction (`extract`) and their
config (`options`). The step the WARC and HTML readers share is data_pipeline/readers/webpage.py."""
