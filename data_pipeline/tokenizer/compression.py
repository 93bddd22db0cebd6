"""Compression of a tokenizer on real text, per language (the rate Baichuan's tokenizer table reports).

Definitions (docs/tokenizer.md): over whole documents, without added bos/eos,
  * tokens per character = tokens / Unicode code points  — the "compression rate"; lower is better;
  * bytes per token     = UTF-8 bytes / tokens           — how much text one token carries; higher is better.
A tokenizer is a SentencePiece model, an HF ``tokenizer.json`` / tokenizer folder, or one of the references
``bytes`` (one token per UTF-8 byte: what a pure byte-level model sees) and ``chars`` (one per code point).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sentencepiece as spm

from data_pipeline.errors import UserError

Encoder = Callable[[list[str]], list[int]]  # texts -> token count per text


@dataclass
class LanguageStats:
    documents: int = 0
    characters: int = 0
    bytes: int = 0
    tokens: int = 0

    @property
    def tokens_per_char(self) -> float:
        return self.tokens / self.characters if self.characters else float("nan")

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens if self.tokens else float("nan")


@dataclass
class TokenizerUnderTest:
    name: str
    vocab_size: int | None
    count_tokens: Encoder
    per_language: dict[str, LanguageStats] = field(default_factory=dict)


def _sentencepiece(path: Path) -> tuple[int, Encoder]:
    processor = spm.SentencePieceProcessor(model_file=str(path))
    return processor.get_piece_size(), lambda texts: [len(ids) for ids in processor.encode(texts)]


def _hf_tokenizer_json(path: Path) -> tuple[int, Encoder]:
    from tokenizers import Tokenizer  # lazy: optional (comes with transformers), only for a tokenizer.json

    tokenizer = Tokenizer.from_file(str(path))
    return tokenizer.get_vocab_size(), lambda texts: [
        len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)
    ]


def _hf_auto(path: Path) -> tuple[int, Encoder]:
    from transformers import AutoTokenizer  # lazy: optional, heavy; only to compare against an HF tokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return len(tokenizer), lambda texts: [len(tokenizer.encode(t, add_special_tokens=False)) for t in texts]


def load_tokenizer_under_test(spec: str) -> TokenizerUnderTest:
    """`spec`: ``bytes``, ``chars``, a ``.model`` file, a ``tokenizer.json``, or a folder holding one of them."""
    if spec == "bytes":
        return TokenizerUnderTest("bytes (UTF-8)", 256, lambda texts: [len(t.encode("utf-8")) for t in texts])
    if spec == "chars":
        return TokenizerUnderTest("chars", None, lambda texts: [len(t) for t in texts])
    path = Path(spec)
    try:
        if path.is_file() and path.suffix == ".json":
            vocab, encoder = _hf_tokenizer_json(path)
        elif path.is_file():
            vocab, encoder = _sentencepiece(path)
        elif (path / "tokenizer.model").is_file():
            vocab, encoder = _sentencepiece(path / "tokenizer.model")
        elif (path / "tokenizer.json").is_file():
            vocab, encoder = _hf_tokenizer_json(path / "tokenizer.json")
        elif path.is_dir():
            vocab, encoder = _hf_auto(path)
        else:
            raise UserError(
                f"tokenizer {spec!r} not found",
                "give a .model, a tokenizer.json, a folder, 'bytes' or 'chars'",
            )
    except (OSError, RuntimeError, ValueError) as err:
        raise UserError(
            f"cannot load tokenizer {spec!r} ({str(err).splitlines()[0]})", "check the path"
        ) from None
    name = path.parent.name if path.name in ("tokenizer.model", "tokenizer.json") else path.name
    return TokenizerUnderTest(name or spec, vocab, encoder)


def measure(
    tokenizers: list[TokenizerUnderTest], documents: Iterable[tuple[str, str]], batch: int = 256
) -> None:
    """Fill each tokenizer's per-language stats from (language, text) pairs, plus an "all" row."""
    pending: list[tuple[str, str]] = []

    def flush() -> None:
        texts = [t for _, t in pending]
        for tok in tokenizers:
            for (language, text), count in zip(pending, tok.count_tokens(texts)):
                for key in (language, "all"):
                    stats = tok.per_language.setdefault(key, LanguageStats())
                    stats.documents += 1
                    stats.characters += len(text)
                    stats.bytes += len(text.encode("utf-8"))
                    stats.tokens += count
        pending.clear()

    for item in documents:
        pending.append(item)
        if len(pending) >= batch:
            flush()
    flush()


def markdown_table(tokenizers: list[TokenizerUnderTest], languages: list[str]) -> str:
    rows = [
        "| language | tokenizer | vocab | documents | characters | tokens | tokens/char (↓) | bytes/token (↑) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for language in languages:
        for tok in tokenizers:
            s = tok.per_language.get(language)
            if s is None:
                continue
            vocab = f"{tok.vocab_size:,}" if tok.vocab_size else "—"
            rows.append(
                f"| {language} | {tok.name} | {vocab} | {s.documents:,} | {s.characters:,} | {s.tokens:,} | "
                f"{s.tokens_per_char:.3f} | {s.bytes_per_token:.2f} |"
            )
    return "\n".join(rows)
