"""Every `python -m` entry point that takes key=value arguments: its main, its schema and arguments that
compose a valid config (required keys set; nothing is read until the command runs)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class EntryPoint:
    module: str  # python -m <module>
    schema: str  # "module:Class" of the top-level config dataclass
    valid_args: tuple[str, ...]  # enough for --cfg job to print a config

    def main(self):
        module = importlib.import_module(self.module)
        # A package's __main__ exits on import; its body is the package's cli module.
        return module.main if hasattr(module, "main") else importlib.import_module(self.module + ".cli").main

    def schema_class(self) -> type:
        module, name = self.schema.split(":")
        return getattr(importlib.import_module(module), name)


ENTRY_POINTS = [
    EntryPoint("pretrain.train", "pretrain.config.schema:PretrainConfig", ("model=tiny", "train.lr=1e-4")),
    EntryPoint("pretrain.distributed.__main__", "pretrain.config.schema:PretrainConfig", ("comm.latency_share=0.2",)),
    EntryPoint("pretrain.evaluation", "pretrain.evaluation.cli:EvaluateArgs", ("checkpoint=CKPT", "data=demo")),
    EntryPoint("pretrain.generate", "pretrain.generate:GenerateArgs", ("checkpoint=CKPT", "prompt=今天天气")),
    EntryPoint("pretrain.export", "pretrain.export:ExportArgs", ("checkpoint=CKPT", "output=OUT")),
    EntryPoint("pretrain.plan", "pretrain.plan:PlanArgs", ("model=baichuan_13b", "model.loss_chunk_size=512")),
    EntryPoint("data_pipeline.run", "data_pipeline.config:PipelineConfig", ("input.paths=a.jsonl", "output.dir=OUT")),
    EntryPoint("data_pipeline.train_tokenizer", "data_pipeline.train_tokenizer:TrainTokenizerConfig",
               ("input=[a.jsonl,b/*.jsonl.gz]", "output=TOK", "vocab_size=3000")),
    EntryPoint("data_pipeline.tokenize", "data_pipeline.tokenize:TokenizeConfig",
               ("input=kept", "tokenizer=TOK", "output=SHARDS")),
    EntryPoint("data_pipeline.tokenizer_report", "data_pipeline.tokenizer_report:TokenizerReportConfig",
               ("input=kept", "tokenizer=TOK")),
    EntryPoint("data_pipeline.dedup.evaluate", "data_pipeline.dedup.evaluate:DedupEvalConfig", ("input=corpus",)),
    EntryPoint("pretrain.mixing", "pretrain.mixing.cli:MixConfig", ("sources=demo", "output=OUT.yaml")),
]
