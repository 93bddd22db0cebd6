"""Inference-time transforms of a trained model (weight-only quantization); training never imports this."""
