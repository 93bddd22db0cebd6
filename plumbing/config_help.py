"""The `--help` text of a command, generated from its schema so it never drifts from the code.

Every key is listed with its type, its default (as composed from conf/, so a group's values show) and its
meaning, taken from the comment on the field's line or, failing that, the comment block just above it — the
way the schemas are already written, so they stay plain dataclasses.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
from functools import cache
from pathlib import Path

from omegaconf import MISSING, DictConfig, OmegaConf


@cache
def field_comments(cls: type) -> dict[str, str]:
    """{field name: its comment} for a dataclass defined in a source file (empty when the source is absent)."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}  # line number -> comment text
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            if text.startswith("noqa"):  # `# noqa: UP006 - meaning` keeps the meaning after the dash
                text = text.split(" - ", 1)[1] if " - " in text else ""
            if text and not text.startswith("type:"):
                comments[token.start[0]] = text
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                tokenize.ENDMARKER):
            code_lines.add(token.start[0])
    found = {}
    for number, line in enumerate(lines, start=1):
        name = line.strip().split(":", 1)[0]
        if not name.isidentifier() or ":" not in line or line.strip().startswith(("def ", "class ", "@")):
            continue
        if number in comments and number in code_lines:  # a trailing comment
            found.setdefault(name, comments[number])
            continue
        above = []
        row = number - 1
        while row in comments and row not in code_lines:
            above.insert(0, comments[row])
            row -= 1
        if above:
            found.setdefault(name, " ".join(above))
    return {f.name: found[f.name] for f in dataclasses.fields(cls) if f.name in found}


def nested_schema(field: dataclasses.Field) -> type | None:
    """The dataclass a field holds, when it holds one (its default factory builds it)."""
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
        if dataclasses.is_dataclass(value):
            return type(value)
    if dataclasses.is_dataclass(field.default):
        return type(field.default)
    return None


def class_summary(cls: type) -> str:
    """The first line of a class's docstring ('' for the signature @dataclass writes when there is none)."""
    doc = inspect.getdoc(cls) or ""
    return "" if doc.startswith(f"{cls.__name__}(") else doc.split("\n")[0]


def type_name(field: dataclasses.Field) -> str:
    text = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    return text.replace("List[", "list[").replace("Dict[", "dict[").replace("typing.", "")


def shown_value(value: object) -> str:
    if value is None:
        return "null"
    if value == "":
        return "''"
    if value == MISSING:
        return "??? (required)"
    if isinstance(value, DictConfig) or isinstance(value, dict | list) or hasattr(value, "_content"):
        value = OmegaConf.to_container(value) if not isinstance(value, dict | list) else value
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def key_lines(schema: type, defaults: DictConfig | None, prefix: str = "") -> list[str]:
    """One line per leaf key: `  key  type  = default  meaning`; nested dataclasses expand under a header."""
    comments: dict[str, str] = {}
    for cls in reversed(schema.__mro__):  # fields inherited from a base dataclass keep their comments
        if dataclasses.is_dataclass(cls):
            comments.update(field_comments(cls))
    rows: list[str] = []
    for field in dataclasses.fields(schema):
        key = prefix + field.name
        inner = nested_schema(field)
        if inner is not None:
            meaning = comments.get(field.name) or class_summary(inner)
            rows.append(f"  {key}.*" + (f"  — {meaning}" if meaning else ""))
            rows += key_lines(inner, defaults, key + ".")
            continue
        value = OmegaConf.select(defaults, key, throw_on_missing=False, default=MISSING) if defaults is not None \
            else field.default
        if defaults is None and field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        meaning = comments.get(field.name, "")
        rows.append(f"  {key}: {type_name(field)} = {shown_value(value)}" + (f"  # {meaning}" if meaning else ""))
    return rows


def config_groups(conf_dir: Path, config_name: str) -> list[tuple[str, str, list[str]]]:
    """(how to select it, default option, options) for every group in conf/<config_name>.yaml's defaults list:
    `model` for `- model: tiny`, `pipeline/filters@filters.zh` for `- pipeline/filters@filters.zh: zh`."""
    path = conf_dir / f"{config_name}.yaml"
    if not path.is_file():
        return []
    groups = []
    for entry in OmegaConf.to_container(OmegaConf.load(path)).get("defaults", []):
        if not isinstance(entry, dict):
            continue
        (selector, default), = entry.items()
        folder = conf_dir / selector.split("@")[0]
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        groups.append((selector, str(default), options))
    return groups


def help_text(prog: str, summary: str, example: str, schema: type, defaults: DictConfig | None,
              groups: list[tuple[str, str, list[str]]]) -> str:
    parts = [f"{prog} — {summary}", "", "Example:", f"  {prog} {example}", ""]
    if groups:
        parts.append("Config groups (group=option; the default is marked *):")
        for selector, default, options in groups:
            shown = ", ".join(f"{o}*" if o == default else o for o in options)
            parts.append(f"  {selector}: {shown}")
        parts.append("")
    parts.append("Keys (key=value; lists as key=[a,b]; `key: type = default  # meaning`):")
    parts += key_lines(schema, defaults)
    parts += ["", "Flags: --help/-h this text; --cfg job print the composed, validated config as YAML and exit;",
              "       --info the config search path and groups; --config-dir DIR --config-name NAME start from",
              "       DIR/NAME.yaml (e.g. a saved --cfg job) instead of the default config."]
    return "\n".join(parts) + "\n"
