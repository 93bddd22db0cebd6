"""Supervised fine-tuning, full or LoRA, with the pretraining trainer (docs/finetune.md).

    python -m pretrain.finetune finetune.init_from=RUN/checkpoints finetune.data=[sft.jsonl] logging.run_dir=SFT
    python -m pretrain.finetune finetune.init_from=HF_DIR finetune.data=[...] finetune.lora.rank=8 ...
    deepspeed --no_local_rank --num_gpus 8 --module pretrain.finetune ...     (any ZeRO stage: deepspeed=zero3)

Defaults: conf/finetune.yaml (train=finetune: lr 2e-5, cosine to 10 %, no weight decay on the embeddings).
The model's shape and the tokenizer come from `finetune.init_from`. Rerunning the command resumes, as
pretraining does; `pretrain.export` of the run's checkpoints merges LoRA adapters into the weights.
"""

from __future__ import annotations

import sys

from pretrain.config.compose import training_command
from pretrain.train import main as train_main

COMMAND = training_command(
    "python -m pretrain.finetune",
    "fine-tune pretrained weights on instruction data (full or LoRA) with the pretraining trainer",
    "finetune.init_from=RUN/checkpoints finetune.data=[sft.jsonl] finetune.lora.rank=8 logging.run_dir=SFT",
    config_name="finetune",
)


def main(argv: list[str] | None = None) -> int:
    return train_main(argv, command=COMMAND)


if __name__ == "__main__":
    sys.exit(main())
