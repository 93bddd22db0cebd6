"""Supervised fine-tuning (full and LoRA) with the pretraining trainer: `python -m pretrain.finetune`.

The same loop, engine, checkpoints and supervisor as pretraining; what differs is where the weights start
(`finetune.init_from`, init_weights.py), what a sample is (packed instruction examples with loss on the replies
only: chat_template.py, instruction_data.py) and, with LoRA, which parameters train (lora.py).
"""
