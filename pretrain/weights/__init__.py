"""Model weights in and out: the one home for every format the project reads or writes.

`load(path)` → (ModelConfig, state dict in our key names, tokenizer.model path or None) from a Hugging Face
directory (our exports in the llama or baichuan layout, or the released Baichuan weights), a training checkpoint
(model weights only, through DeepSpeed's zero_to_fp32) or a LoRA fine-tune's checkpoint (merged into its base,
or the adapters alone). `export_state_dict(..., fmt)` writes a Hugging Face directory in one of `LAYOUTS`.
Export, generation, evaluation, a fine-tune's init and config composition read weights through here only; the
training checkpoint store itself (saving, resuming, verifying) stays in pretrain/checkpoint.
"""

from pretrain.weights.hf import (
    LAYOUTS,
    WeightsFileError,
    export_state_dict,
    is_hf_directory,
    load_hf_checkpoint,
    read_hf_config,
)
from pretrain.weights.loading import (
    HF_DIRECTORY,
    TRAINING_CHECKPOINT,
    load,
    load_any_checkpoint,
    merge_lora_checkpoint,
    open_weights,
    weights_format,
)
from pretrain.weights.training_checkpoint import (
    checkpoint_weights,
    load_inference_model,
    read_run,
    saved_node,
    shipped_tokenizer,
)

__all__ = [
    "HF_DIRECTORY",
    "LAYOUTS",
    "TRAINING_CHECKPOINT",
    "WeightsFileError",
    "checkpoint_weights",
    "export_state_dict",
    "is_hf_directory",
    "load",
    "load_any_checkpoint",
    "load_hf_checkpoint",
    "load_inference_model",
    "merge_lora_checkpoint",
    "open_weights",
    "read_hf_config",
    "read_run",
    "saved_node",
    "shipped_tokenizer",
    "weights_format",
]
