"""Tokenizer training (SentencePiece BPE, Baichuan's recipe), its HF export, and tokenizing records to shards."""
