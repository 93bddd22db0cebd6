"""Learn data-mixing weights: `python -m data_pipeline.mix learn=doremi sources=... output=conf/data/learned.yaml`.

Mixing belongs to the data side (design.md), but learning the weights means training small models, so this one
CLI crosses the package boundary: `pretrain.mixing` (model, data loader) is imported lazily inside `main`, and
nothing else in `data_pipeline` pulls in torch. Arguments and method: pretrain/mixing/cli.py, docs/mixing.md.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from pretrain.mixing.cli import main as mix_main

    return mix_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
