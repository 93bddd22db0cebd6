"""The small `key=value` command-line front end shared by export, generate, plan and evaluate.

These tools take a handful of typed arguments rather than a whole composed config, so they parse overrides
straight into a dataclass with OmegaConf; the training entry point composes the full Hydra config instead
(`pretrain.config.compose`). Either way a user mistake is one `error:` line and exit status 2.
"""

from __future__ import annotations

import sys

from omegaconf import OmegaConf


class UsageError(Exception):
    """A mistake the user can fix; the CLI prints it as one line and exits 2."""


def parse_overrides(schema: type, argv: list[str]):
    """`key=value` arguments into the dataclass `schema` (typed; an unknown key or a bad type names the key)."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))
        return OmegaConf.to_object(merged)
    except Exception as exc:  # OmegaConf raises several types; all mean "bad argument"
        message = str(exc).splitlines()[0]
        raise UsageError(f"bad argument ({message}) — pass key=value pairs, keys: {list(schema.__dataclass_fields__)}") from exc


def run_cli(main, argv: list[str] | None = None) -> None:
    """Run `main(argv)`, turning user errors into `error: ...` on stderr and exit status 2."""
    try:
        main(sys.argv[1:] if argv is None else argv)
    except (UsageError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
