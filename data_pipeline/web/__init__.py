"""Crawled web pages → clean text: charset decoding (`charset`), main-text extraction (`extract`), and the one
step the WARC and HTML readers share (`page`)."""
