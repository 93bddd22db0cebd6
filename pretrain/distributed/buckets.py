"""Communication bucket sizes adapted to the cluster — a rule from world and hidden size, or a measurement.

A bucket is the number of elements ZeRO sends in one collective: gradients reduced together during the
backward pass (`reduce`), parameters gathered together after the step (ZeRO-1/2 `allgather`) or before a layer
runs (ZeRO-3 `prefetch`). Each collective pays a fixed latency plus size / bandwidth, so small buckets waste
time on latency while large buckets delay the first collective and cost memory. Baichuan set them from the
number of GPUs; here is how:

* `deepspeed.buckets=fixed`  — the configured sizes as they are.
* `deepspeed.buckets=auto`   — a rule (`rule_bucket_sizes`): the reduce bucket is a quarter of one layer's
  gradients (12·h² elements per transformer layer) so the reduction of layer i overlaps the backward of layer
  i-1, times log2 of the data-parallel size, since a tree/hierarchical collective pays ~log2(p) latency hops
  and the bucket has to grow with them to keep latency's share constant. The prefetch bucket is one layer's
  parameters: gather the next layer while this one computes.
* `comm.probe=true` (with `buckets=auto`) — measure instead of assume (`probe_bucket_sizes`): fit
  t = latency + size / bandwidth per collective on this cluster and pick the smallest bucket whose fixed
  latency is at most `comm.latency_share` of its transfer time: size ≥ latency × bandwidth / share.

Every result is rounded up to a multiple of ALIGN and clamped to [MIN_BUCKET, MAX_BUCKET] elements (DeepSpeed
needs the all-gather bucket aligned to its NCCL start alignment).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

from pretrain.distributed.comm_probe import CollectiveFit, CommProfile, is_usable

log = logging.getLogger(__name__)

MIN_BUCKET = 1 << 16  # 65,536 elements: below this every collective is latency-bound on any interconnect
MAX_BUCKET = 500_000_000  # DeepSpeed's own default ceiling; larger buckets only cost memory
ALIGN = 1024


@dataclass(frozen=True)
class BucketSizes:
    reduce: int
    allgather: int
    prefetch: int
    source: str  # fixed | auto | probe

    def as_dict(self) -> dict[str, int]:
        return {"reduce": self.reduce, "allgather": self.allgather, "prefetch": self.prefetch}

    def describe(self) -> str:
        return ", ".join(f"{k}={v:,}" for k, v in asdict(self).items() if k != "source") + f" ({self.source})"


def _clamp(elements: float, low: int = MIN_BUCKET, high: int = MAX_BUCKET) -> int:
    def align_up(n: float) -> int:
        return int(math.ceil(n / ALIGN)) * ALIGN

    return min(max(align_up(elements), align_up(low)), high // ALIGN * ALIGN)


def rule_bucket_sizes(hidden_size: int, world_size: int) -> BucketSizes:
    """The documented rule (module docstring) from hidden size and data-parallel size alone."""
    per_layer = 12 * hidden_size * hidden_size  # ≈ parameters (and gradients) of one transformer layer
    hops = max(1.0, math.log2(max(world_size, 2)))
    reduce = _clamp(per_layer / 4 * hops, low=5_000_000)
    prefetch = _clamp(per_layer, low=1_000_000, high=100_000_000)
    return BucketSizes(reduce=reduce, allgather=reduce, prefetch=prefetch, source="auto")


def latency_bound_elements(fit: CollectiveFit, latency_share: float, bytes_per_element: int) -> int:
    """Smallest bucket (elements) whose fixed latency is ≤ latency_share × its transfer time:
    latency ≤ share · size / bandwidth  ⇔  size ≥ latency · bandwidth / share."""
    size_bytes = fit.latency_s * fit.bandwidth_bytes_per_s / latency_share
    return _clamp(size_bytes / bytes_per_element)


def probe_bucket_sizes(profile: CommProfile, zero_stage: int, latency_share: float,
                       bytes_per_element: int) -> BucketSizes:
    """Bucket sizes from measured collectives. Gradients are reduce-scattered by ZeRO-1/2/3 (all-reduced by
    ZeRO-0, whose DeepSpeed path ignores the bucket setting anyway); parameters are all-gathered."""
    reduce_op = "all_reduce" if zero_stage == 0 else "reduce_scatter"
    reduce = latency_bound_elements(profile.fits[reduce_op], latency_share, bytes_per_element)
    gather = latency_bound_elements(profile.fits["all_gather"], latency_share, bytes_per_element)
    return BucketSizes(reduce=reduce, allgather=gather, prefetch=gather, source="probe")


def choose_bucket_sizes(config, world_size: int, profile: CommProfile | None = None) -> BucketSizes:
    """The bucket sizes `render_deepspeed_config` uses. `config` is a PretrainConfig."""
    ds = config.deepspeed
    if ds.buckets == "fixed":
        return BucketSizes(ds.reduce_bucket_size, ds.allgather_bucket_size, ds.prefetch_bucket_size, "fixed")
    rule = rule_bucket_sizes(config.model.hidden_size, world_size)
    if profile is None:
        return rule
    needed = ("all_reduce" if ds.zero_stage == 0 else "reduce_scatter", "all_gather")
    unusable = [op for op in needed if op not in profile.fits or not is_usable(profile.fits[op])]
    if unusable:
        # Too noisy to separate latency from bandwidth (e.g. a heavily shared machine): the rule is safer.
        log.warning("comm probe: fit of %s not usable (non-positive latency or bandwidth); using the rule",
                    ", ".join(unusable))
        return rule
    return probe_bucket_sizes(profile, ds.zero_stage, config.comm.latency_share,
                              communication_bytes_per_element(config.train.precision))


def communication_bytes_per_element(precision: str) -> int:
    """Buckets hold elements of the training dtype (bf16/fp16 gradients and parameters are 2 bytes)."""
    return 4 if precision == "fp32" else 2
