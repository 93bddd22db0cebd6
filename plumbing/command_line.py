"""The one front end of every `python -m ...` entry point that takes Hydra-style `key=value` arguments.

    COMMAND = CommandLine(prog="python -m data_pipeline.tokenize", summary="...", example="input=... ...",
                          schema=TokenizeConfig, config_name="tokenize")
    def main(argv=None): return COMMAND.run(tokenize, argv)   # body(config) runs only for a real run

It answers what Hydra and Python users expect before composing anything: `--help`/`-h` (generated from the
schema), `--cfg job` (the composed, validated config as YAML; nothing runs), `--info` (search path, groups),
`--config-dir/--config-name` (start from a saved config). The DeepSpeed launcher's `--local_rank` is dropped;
under a launcher only rank 0 prints. A user error anywhere — composition, validation or the run — is one
`error:` line and exit 2 through `plumbing.user_error`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from plumbing.config_help import config_groups, help_text
from plumbing.hydra_compose import CONF_DIR, PrimaryConfig, compose_typed, store_name, to_yaml
from plumbing.user_error import ConfigError, UserError, user_errors_exit

HELP_FLAGS = ("--help", "-h")
VALUE_FLAGS = {"--cfg": "cfg", "-c": "cfg", "--config-dir": "config_dir", "-cd": "config_dir",
               "--config-name": "config_name", "-cn": "config_name"}


def strip_launcher_args(argv: list[str]) -> list[str]:
    """Drop `--local_rank=N` / `--local_rank N` that `deepspeed` (without --no_local_rank) appends."""
    kept: list[str] = []
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
        elif arg.startswith(("--local_rank=", "--local-rank=")):
            continue
        elif arg in ("--local_rank", "--local-rank"):
            skip_next = True
        else:
            kept.append(arg)
    return kept


def quote_plain_value(override: str) -> str:
    """`prompt=今天天气` as `prompt='今天天气'`: Hydra's grammar refuses unquoted non-ASCII text (and some
    punctuation) that OmegaConf-only front ends took, so a plain value it cannot lex is quoted for it. Lists,
    dicts and values that parse already are left alone."""
    key, sep, value = override.partition("=")
    if not sep or not value or value[0] in "[{'\"":
        return override
    try:
        OverridesParser.create().parse_override(override)
        return override
    except HydraException:  # a token the lexer refuses, or a parse error
        for quote in ("'", '"'):
            if quote not in value and "\\" not in value:
                return f"{key}={quote}{value}{quote}"
        return override


def is_printing_rank() -> bool:
    """Under deepspeed/torchrun every rank parses the command line; one copy of --help or --cfg is enough."""
    return os.environ.get("RANK", "0") == "0"


@dataclass
class ParsedArgs:
    overrides: list[str] = field(default_factory=list)
    help: bool = False
    info: bool = False
    cfg: str | None = None
    config_dir: str | None = None
    config_name: str | None = None


def parse_flags(argv: list[str], prog: str) -> ParsedArgs:
    parsed = ParsedArgs()
    args = iter(strip_launcher_args(argv))
    for arg in args:
        flag, has_value, value = arg.partition("=")
        if arg in HELP_FLAGS:
            parsed.help = True
        elif arg == "--info":
            parsed.info = True
        elif flag in VALUE_FLAGS:
            if not has_value:
                value = next(args, None)
                if value is None:
                    raise UserError(f"{flag} needs a value", f"see `{prog} --help`")
            setattr(parsed, VALUE_FLAGS[flag], value)
        elif arg.startswith("-"):  # an override never starts with "-" (Hydra's are key=, +key=, ~key)
            raise UserError(f"unknown flag {arg}", f"arguments are key=value; see `{prog} --help`")
        else:
            parsed.overrides.append(arg)
    if parsed.cfg not in (None, "job"):
        raise UserError(f"--cfg {parsed.cfg} is not supported", "use --cfg job (the composed config)")
    return parsed


@dataclass
class CommandLine:
    prog: str  # "python -m data_pipeline.tokenize"
    summary: str  # one line: what the command does
    example: str  # its arguments in one typical use
    schema: type  # the top-level config dataclass
    config_name: str  # conf/<config_name>.yaml when uses_conf_dir, else the schema's ConfigStore name
    uses_conf_dir: bool = False
    # Checks after composition (raise UserError); they run for --cfg job too, so it prints only valid configs.
    validate: Callable[[Any], None] | None = None
    # Replaces plain composition when a command reads some arguments itself (e.g. pretrain.plan's model.*).
    compose: Callable[[list[str], PrimaryConfig | None], Any] | None = None
    # Exceptions that are the user's doing although defined outside plumbing (e.g. a missing checkpoint).
    also_user_errors: tuple[type[BaseException], ...] = ()

    def parse(self, argv: list[str] | None = None) -> Any:
        """The validated config, or exit: 0 after --help/--info/--cfg job, 2 after a user error."""
        with user_errors_exit(*self.also_user_errors):
            return self._parse(argv)

    def _parse(self, argv: list[str] | None) -> Any:
        args = parse_flags(sys.argv[1:] if argv is None else list(argv), self.prog)
        if args.help or args.info:
            if is_printing_rank():
                sys.stdout.write(self.help() if args.help else self.info())
            raise SystemExit(0)
        primary = None
        if args.config_dir or args.config_name:
            primary = PrimaryConfig(Path(args.config_dir) if args.config_dir else CONF_DIR,
                                    args.config_name or self.config_name)
        config = self.build_config([quote_plain_value(o) for o in args.overrides], primary)
        if args.cfg == "job":
            if is_printing_rank():
                sys.stdout.write(to_yaml(config))
            raise SystemExit(0)
        return config

    def build_config(self, overrides: list[str], primary: PrimaryConfig | None = None) -> Any:
        """Compose and validate `overrides` (no flags); a mistake raises UserError. Also what tests call."""
        if self.compose is not None:
            config = self.compose(overrides, primary)
        else:
            config = compose_typed(self.schema, self.config_name, overrides, uses_conf_dir=self.uses_conf_dir,
                                   primary=primary, fix=f"check the key and its type in `{self.prog} --help`")
        if self.validate is not None:
            self.validate(config)
        return config

    def run(self, body: Callable[[Any], int | None], argv: list[str] | None = None) -> int:
        """Parse, then `body(config)`; a user error from either is one line and exit 2. Returns body's code."""
        with user_errors_exit(*self.also_user_errors):
            return body(self.parse(argv)) or 0

    def defaults(self) -> DictConfig | None:
        """The config as composed with no arguments (a required key stays ???), for the defaults --help shows."""
        try:
            return OmegaConf.structured(self.schema) if not self.uses_conf_dir else _compose_untyped(
                self.schema, self.config_name)
        except ConfigError:
            return None

    def help(self) -> str:
        groups = config_groups(CONF_DIR, self.config_name) if self.uses_conf_dir else []
        return help_text(self.prog, self.summary, self.example, self.schema, self.defaults(), groups)

    def info(self) -> str:
        lines = [f"{self.prog}", "Config search path:"]
        if self.uses_conf_dir:
            lines.append(f"  file://{CONF_DIR} (primary config {self.config_name}.yaml)")
        schema = f"{self.schema.__module__}.{self.schema.__name__}"
        lines.append(f"  structured config '{store_name(self.config_name, self.uses_conf_dir)}' ({schema})")
        groups = config_groups(CONF_DIR, self.config_name) if self.uses_conf_dir else []
        lines.append("Config groups:" if groups else "Config groups: none")
        lines += [f"  {selector}: {', '.join(options)} (default {default})" for selector, default, options in groups]
        return "\n".join(lines) + "\n"


def _compose_untyped(schema: type, config_name: str) -> DictConfig:
    ConfigStore.instance().store(name=store_name(config_name, True), node=schema)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return OmegaConf.merge(OmegaConf.structured(schema), compose(config_name=config_name))
    except HydraException as exc:
        raise ConfigError(str(exc)) from None
