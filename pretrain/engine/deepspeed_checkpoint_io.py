"""DeepSpeed's checkpoint-engine seam, pointed at our writer: every file DeepSpeed saves goes through
`pretrain.checkpoint.shard_writer.ShardWriter` (digested while written, fsynced, optionally in the background).

DeepSpeed 0.19.8 writes each checkpoint file through `engine.checkpoint_engine.save(state_dict, path)` and reads it
through `.load(path)`; the file names, which rank writes what, and the torch.save format stay DeepSpeed's, so
`zero_to_fp32`, `ds_to_universal` and `load_inference_model` read our checkpoints as they read DeepSpeed's. What its
own engines offer, and why none of them is used as is (docs/recovery.md has the long form):

* `TorchCheckpointEngine` (the default): plain torch.save to a path — no digest, no fsync.
* `FastCheckpointEngine` ("FastPersist", `checkpoint.writer.type=fast`): O_DIRECT writes through the `async_io`
  op, which needs libaio (not buildable here: `AsyncIOBuilder().is_compatible()` is False), and under
  `optimize_dp_state` it splits one file into `<name>-<rank>.<n>` parts that zero_to_fp32 cannot read; its
  `python` writer is an unbuffered file without fsync.
* `DecoupledCheckpointEngine` (`writer.decoupled=true`): a spawned writer process per rank fed through a queue;
  it commits inside the next `engine.step()` and knows nothing of a manifest, never fsyncs, and cannot digest
  the bytes it writes (the child builds its own FastCheckpointEngine).

So the seam is DeepSpeed's and the writing is ours: `save` hands the state dict to the ShardWriter, which
snapshots it (async) or writes it (sync); `commit` is a no-op because the checkpoint store commits the whole
directory once every rank's bytes are durable.
"""

from __future__ import annotations

import torch
from deepspeed.runtime.checkpoint_engine import CheckpointCommitInfo
from deepspeed.runtime.checkpoint_engine.checkpoint_engine import CheckpointEngine

from pretrain.checkpoint.shard_writer import ShardWriter


class ShardWriterCheckpointEngine(CheckpointEngine):
    def __init__(self, writer: ShardWriter):
        super().__init__()
        self.name = "ShardWriterCheckpointEngine"
        self.writer = writer

    def create(self, info: CheckpointCommitInfo) -> None:
        pass

    def save(self, state_dict, path: str) -> None:
        self.writer.write_state(state_dict, path)

    def load(self, path: str, map_location=None):
        return torch.load(path, map_location=map_location, weights_only=False)  # as TorchCheckpointEngine

    def commit(self, info: CheckpointCommitInfo) -> bool:
        return True  # the store commits (manifest, rename, `latest`) after every rank's bytes are durable


def install_shard_writer(engine, writer: ShardWriter) -> None:
    """Replace the checkpoint engine `deepspeed.initialize` chose. Which ranks write the module file was decided
    with the default engine's rule (data-parallel rank 0), which ours keeps (`is_data_parallel_writer`)."""
    engine.checkpoint_engine = ShardWriterCheckpointEngine(writer)
