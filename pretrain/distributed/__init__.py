"""Cluster-facing helpers: the start-up communication probe and the bucket-size rule it feeds."""

from pretrain.distributed.buckets import (
    BucketSizes,
    choose_bucket_sizes,
    rule_bucket_sizes,
)
from pretrain.distributed.comm_probe import (
    CollectiveFit,
    CommProfile,
    fit_latency_bandwidth,
    probe_collectives,
    run_comm_probe,
)

__all__ = [
    "BucketSizes",
    "CollectiveFit",
    "CommProfile",
    "choose_bucket_sizes",
    "fit_latency_bandwidth",
    "probe_collectives",
    "rule_bucket_sizes",
    "run_comm_probe",
]
