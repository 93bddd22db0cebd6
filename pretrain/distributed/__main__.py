"""Probe this cluster's collectives and show the bucket sizes the trainer would choose, without training.

    deepspeed --no_local_rank --num_gpus 8 --module pretrain.distributed [model=baichuan_7b] [deepspeed=zero3] \
        [comm.latency_share=0.1] [comm.probe_sizes_kib=[16,256,2048,8192]] [comm.probe_repeats=5]

Takes the trainer's overrides (the data section is not read). Rank 0 prints, per collective, the median time
of the slowest rank at each size, the fitted latency and bandwidth, and then the buckets from the probe next to
the world/hidden-size rule.
"""

from __future__ import annotations

import sys

from pretrain.config.compose import training_command
from pretrain.distributed.buckets import choose_bucket_sizes, rule_bucket_sizes
from pretrain.distributed.comm_probe import run_comm_probe
from pretrain.distributed.session import distributed_session

COMMAND = training_command(
    "python -m pretrain.distributed",
    "probe this cluster's collectives and show the bucket sizes the trainer would choose (no training)",
    "model=baichuan_7b deepspeed=zero3 comm.latency_share=0.1   (under deepspeed --no_local_rank --module)",
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not any(arg.startswith("data.sources") for arg in args):
        args = [*args, "data.sources=[{name: unused, path: unused}]"]  # the probe reads no data
    config = COMMAND.parse(args)  # validated: a bad comm.* value is one line and exit 2 here
    with distributed_session(config.train.dist_timeout_minutes) as (rank, world_size):
        profile = run_comm_probe(config.comm, config.train.precision)
    if rank != 0:
        return 0
    if profile is None:
        print("one rank: nothing to probe — launch with deepspeed/torchrun on two or more ranks")
        return 0
    print(f"{world_size} ranks, backend {profile.backend}, {config.train.precision}; "
          f"slowest rank's median of {config.comm.probe_repeats} per size")
    for op, fit in profile.fits.items():
        times = "  ".join(f"{size // 1024} KiB {seconds * 1e6:,.0f} us" for size, seconds in
                          zip(fit.sizes_bytes, fit.seconds))
        print(f"  {op:15s} latency {fit.latency_s * 1e6:9.1f} us  bandwidth {fit.bandwidth_bytes_per_s / 1e9:8.3f} GB/s"
              f"   [{times}]")
    chosen = choose_bucket_sizes(config, world_size, profile)
    rule = rule_bucket_sizes(config.model.hidden_size, world_size)
    print(f"buckets (latency share {config.comm.latency_share}): {chosen.describe()}")
    print(f"rule for hidden {config.model.hidden_size}, {world_size} ranks: {rule.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
