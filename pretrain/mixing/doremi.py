"""DoReMi (Xie et al., 2023): learn data-mixing weights with a small proxy model.

1. A reference model trains on the initial mixture (the data config's own fractions).
2. A proxy model trains while domain weights `alpha` move by exponentiated gradient on each domain's clipped
   excess loss ``max(0, loss_proxy - loss_ref)`` (per token, averaged per domain):
       alpha' = normalize(alpha * exp(step_size * excess));  alpha = (1 - smoothing) * alpha' + smoothing / k
   and the proxy minimises ``sum_i alpha_i * mean excess_i`` (the paper's robust objective).
3. The output is the time average of `alpha` over the proxy's steps.

Each step draws the same number of windows from every domain (Algorithm 1 of the paper: the weights enter
through the objective, not the sampling, so every domain's excess is measured every step). Windows come from the
data loader's own per-source document streams (its packing, held-out split and shuffling).

Why the direction is what it is: a domain the proxy cannot learn (noise) has reference loss as high as the
proxy's, so its excess is ~0 and it loses weight; a learnable domain the proxy has not yet learned has a large
excess and gains weight.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pretrain.data import DataConfig, PretrainDataLoader
from pretrain.model import BaichuanForCausalLM, ModelConfig
from pretrain.weights import load_inference_model

log = logging.getLogger(__name__)


@dataclass
class DoReMiConfig:
    reference_steps: int = 200
    proxy_steps: int = 200
    seq_len: int = 128
    batch_size: int = 8  # reference model: samples per step, drawn by the initial mixture
    samples_per_domain: int = 4  # proxy model: samples per domain per step
    lr: float = 1e-3
    weight_decay: float = 0.01
    step_size: float = 1.0  # eta of the exponentiated-gradient update
    smoothing: float = 1e-3  # mix with uniform so no weight reaches 0
    seed: int = 0
    # A checkpoint of `pretrain.train` to use as the reference instead of training one here.
    reference_checkpoint: str = ""
    log_interval: int = 50
    # Intra-op threads while learning. The proxy models are small, and on a busy machine torch's thread pool
    # mostly spin-waits: 1 thread ran the demo's DoReMi 10x faster in wall time on 2 shared cores. 0 = torch's default.
    threads: int = 1


@dataclass
class DoReMiResult:
    domains: list[str]
    initial: list[float]
    weights: list[float]  # time-averaged: the output
    final: list[float]  # alpha at the last step
    mean_excess: list[float]  # per domain, averaged over the proxy's steps
    reference_loss: list[float]  # per domain, mean over the proxy's steps
    proxy_loss: list[float]


def exponentiated_gradient_step(alpha: torch.Tensor, excess: torch.Tensor, step_size: float,
                                smoothing: float) -> torch.Tensor:
    """One DoReMi weight update (in log space for stability)."""
    logits = torch.log(alpha) + step_size * excess
    updated = torch.softmax(logits, dim=0)
    return (1 - smoothing) * updated + smoothing / alpha.numel()


def per_token_loss(model: BaichuanForCausalLM, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids).float()
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)


class DomainBatches:
    """Per-domain windows from the loader's training streams: step t, domain d -> `n` consecutive windows."""

    def __init__(self, loader: PretrainDataLoader, samples_per_domain: int):
        self.loader = loader
        self.n = samples_per_domain

    def step(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, labels) of shape [domains * n, seq_len], domain-major."""
        rows = [src.train.window(t * self.n + j)[0] for src in self.loader.sources for j in range(self.n)]
        tokens = torch.from_numpy(np.stack(rows))
        return tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()


def _optimizer(model: torch.nn.Module, config: DoReMiConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.95))


def train_reference(model_cfg: ModelConfig, loader: PretrainDataLoader, config: DoReMiConfig) -> BaichuanForCausalLM:
    """The reference: plain next-token training on the loader's initial mixture."""
    torch.manual_seed(config.seed)
    model = BaichuanForCausalLM(model_cfg).train()
    optimizer = _optimizer(model, config)
    batches = iter(loader)
    for step in range(1, config.reference_steps + 1):
        batch = next(batches)
        loss = model(batch["input_ids"], labels=batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % config.log_interval == 0 or step == config.reference_steps:
            log.info("reference step %d/%d loss %.4f", step, config.reference_steps, loss.item())
    return model.eval()


def train_proxy(model_cfg: ModelConfig, reference: BaichuanForCausalLM, loader: PretrainDataLoader,
                config: DoReMiConfig) -> DoReMiResult:
    names = [src.name for src in loader.sources]
    k, n = len(names), config.samples_per_domain
    initial = torch.tensor(loader.fractions, dtype=torch.float64)
    alpha = initial.clone()
    alpha_sum = torch.zeros(k, dtype=torch.float64)
    excess_sum, ref_sum, proxy_sum = (torch.zeros(k, dtype=torch.float64) for _ in range(3))
    torch.manual_seed(config.seed + 1)
    proxy = BaichuanForCausalLM(model_cfg).train()
    optimizer = _optimizer(proxy, config)
    batches = DomainBatches(loader, n)
    for step in range(1, config.proxy_steps + 1):
        input_ids, labels = batches.step(step - 1)
        with torch.no_grad():
            ref_tokens = per_token_loss(reference, input_ids, labels)
        proxy_tokens = per_token_loss(proxy, input_ids, labels)
        clipped = (proxy_tokens - ref_tokens).clamp(min=0).view(k, -1).mean(dim=1)  # per domain
        alpha = exponentiated_gradient_step(alpha, clipped.detach().double(), config.step_size, config.smoothing)
        objective = (alpha.float() * clipped).sum()
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        torch.nn.utils.clip_grad_norm_(proxy.parameters(), 1.0)
        optimizer.step()
        alpha_sum += alpha
        excess_sum += clipped.detach().double()
        ref_sum += ref_tokens.view(k, -1).mean(dim=1).double()
        proxy_sum += proxy_tokens.detach().view(k, -1).mean(dim=1).double()
        if step % config.log_interval == 0 or step == config.proxy_steps:
            log.info("proxy step %d/%d weights %s excess %s", step, config.proxy_steps,
                     _fmt(names, alpha.tolist()), _fmt(names, clipped.tolist()))
    steps = config.proxy_steps
    return DoReMiResult(names, initial.tolist(), (alpha_sum / steps).tolist(), alpha.tolist(),
                        (excess_sum / steps).tolist(), (ref_sum / steps).tolist(), (proxy_sum / steps).tolist())


def _fmt(names: list[str], values: list[float]) -> str:
    return " ".join(f"{name}={value:.4f}" for name, value in zip(names, values))


def load_reference(path: str, model_cfg: ModelConfig) -> BaichuanForCausalLM:
    cfg, state_dict, _ = load_inference_model(path)
    if cfg.vocab_size != model_cfg.vocab_size:
        raise ValueError(f"reference checkpoint vocab {cfg.vocab_size} != the data's {model_cfg.vocab_size} — "
                         "use a checkpoint trained on these shards")
    model = BaichuanForCausalLM(cfg)
    model.load_state_dict(state_dict)
    return model.eval()


def learn_doremi_weights(data: DataConfig, model_cfg: ModelConfig, config: DoReMiConfig) -> DoReMiResult:
    if config.proxy_steps < 1 or config.samples_per_domain < 1 or config.seq_len < 1:
        raise ValueError("doremi.proxy_steps, samples_per_domain and seq_len must be >= 1")
    if not 0 <= config.smoothing < 1 or config.step_size < 0:
        raise ValueError("doremi.smoothing must be in [0, 1) and doremi.step_size >= 0")
    loader = PretrainDataLoader(data, seq_len=config.seq_len, micro_batch_size=config.batch_size)
    threads = torch.get_num_threads()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    try:
        if config.reference_checkpoint:
            reference = load_reference(config.reference_checkpoint, model_cfg)
        else:
            reference = train_reference(model_cfg, loader, config)
        for p in reference.parameters():
            p.requires_grad_(False)
        return train_proxy(model_cfg, reference, loader, config)
    finally:
        torch.set_num_threads(threads)
