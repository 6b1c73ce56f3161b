"""``gnnbench list``, ``gnnbench show KIND NAME`` and ``gnnbench schema``: what can be configured."""
from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

import typer

from ..errors import ConfigError, closest
from ._common import out

__all__ = ["list_", "show", "schema", "options_of"]

_KINDS = {"method": "methods", "backbone": "backbones", "dataset": "datasets"}


def _kind(kind: str, choices) -> str:
    if kind not in choices:
        hint = closest(kind, list(choices))
        raise ConfigError(f"unknown plugin kind '{kind}'{'; did you mean ' + repr(hint) + '?' if hint else ''} "
                          f"choices: {', '.join(choices)}")
    return kind


def list_(kind: Annotated[Optional[str], typer.Argument(help="methods, backbones or datasets",
                                                        show_default="all three")] = None,
          name: Annotated[Optional[str], typer.Argument(help="one plugin: its options, as `gnnbench show`",
                                                        show_default=False)] = None) -> None:
    """List the registered plugins with a one-line description; broken ones are shown as such.

    Methods that need no backbone (``supported_backbones = frozenset()``) say so.
    ``gnnbench list methods NAME`` is ``gnnbench show method NAME``.
    """
    from rich.table import Table

    from ..capabilities import needs_backbone
    from ..registry import KINDS, describe, load

    if name is not None:
        show(KINDS[_kind(kind, list(KINDS))], name)
        return
    kinds = [_kind(kind, list(KINDS))] if kind is not None else list(KINDS)
    for k in kinds:
        rows = []
        for name, desc, dist, error in describe(k):
            if not error and k == "methods" and not needs_backbone(load(k, name)):
                desc = f"{desc} (needs no backbone)"
            rows.append((name, desc, dist, error))
        if not sys.stdout.isatty():  # one plugin per line, tab-separated, for scripts and pipes
            for name, desc, dist, error in rows:
                print(f"{k}\t{name}\t{'BROKEN: ' + error if error else desc}\t{dist}")
            continue
        table = Table(title=k, title_justify="left", show_lines=False)
        for col in ("name", "description", "distribution"):
            table.add_column(col, style="bold" if col == "name" else None)
        for name, desc, dist, error in rows:
            table.add_row(name, f"[red]BROKEN: {error}[/red]" if error else desc, dist)
        out.print(table)


def _type_text(field) -> str:
    import typing

    ann = field.annotation
    text = getattr(ann, "__name__", None) if typing.get_origin(ann) is None else None
    text = text or str(ann).replace("typing.", "")
    for m in field.metadata:  # pydantic's bounds: Ge(ge=1) → ">= 1"
        for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                text += f", {op} {getattr(m, attr)}"
    return text


def _docs(config_cls, owner=None) -> dict[str, str]:
    """``{option: its description}`` from the ``Args:`` blocks of the Config's and its plugin's docstrings."""
    import inspect
    import re

    doc = (inspect.getdoc(owner) or "") + "\n\n" + (inspect.getdoc(config_cls) or "") if owner else \
        inspect.getdoc(config_cls) or ""
    found: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        m = re.match(r"^\s*(?:Args:\s*)?([A-Za-z_][A-Za-z0-9_]*)(?:,\s*[A-Za-z_][A-Za-z0-9_]*)*:\s*(.*)$", line)
        inline = [(n, t) for n, t in re.findall(r"\b([a-z_][a-z0-9_]*) \(([^()]*(?:\([^()]*\))?[^()]*)\)", line)
                  if n in config_cls.model_fields and not (m and m.group(1) == n)]
        if inline and not m:  # "num_nodes (2,000), avg_degree (10), …": one default each
            for name, text in inline:
                found.setdefault(name, f"({text})" if text.startswith("default") else f"(default {text})")
            current = None
            continue
        if m and m.group(1) in config_cls.model_fields:
            current = m.group(1)
            found[current] = m.group(2).strip()
        elif current and line.strip():
            found[current] += " " + line.strip()
        elif not line.strip():
            current = None
    return found


def options_of(config_cls, owner=None) -> list[dict[str, Any]]:
    """Every option of a plugin's pydantic ``Config``: name, type (with bounds), default, description
    (the field's ``description``, else its line in the ``Args:`` block of the Config's or ``owner``'s docstring)."""
    docs = _docs(config_cls, owner)
    rows = []
    for name, field in config_cls.model_fields.items():
        default = field.get_default(call_default_factory=True)
        rows.append({"name": name, "type": _type_text(field), "default": default,
                     "doc": field.description or docs.get(name, "")})
    return rows


def show(kind: Annotated[str, typer.Argument(help="method, backbone or dataset")],
         name: Annotated[str, typer.Argument(help="the plugin's name (gnnbench list)")]) -> None:
    """Print every option of one plugin with its type, default and description, from its pydantic model."""
    from rich.markup import escape
    from rich.table import Table

    from ..registry import entries, load

    group = _KINDS[_kind(kind, list(_KINDS))]
    cls = load(group, name)
    section = {"method": "method", "backbone": "backbone", "dataset": "dataset"}[kind]
    out.print(f"[bold]{escape(name)}[/bold] ({kind}, {escape(entries(group)[name].distribution)}): "
              f"{escape(str(cls.description).strip())}", highlight=False)
    if kind == "method":
        backbones = cls.supported_backbones
        text = ("any" if backbones is None else "none needed" if not backbones else ", ".join(sorted(backbones)))
        out.print(f"backbones: {text}; tasks: {', '.join(sorted(str(t) for t in cls.supported_tasks))}",
                  highlight=False)
    rows = options_of(cls.Config, cls)
    if not rows:
        out.print("no options", highlight=False)
        return
    table = Table(show_lines=False, title=escape(f"options (--set {section}.NAME=VALUE, or [{section}_config] in TOML)"),
                  title_justify="left")
    for col in ("option", "type", "default", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], escape(r["type"]), escape(json.dumps(r["default"], ensure_ascii=False, default=str)),
                      escape(r["doc"]))
    out.print(table)


def schema(
    method: Annotated[Optional[str], typer.Option("--method", "-m", help="describe this method's method_config")] = None,
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b",
                                                    help="describe this backbone's backbone_config")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d",
                                                   help="describe this dataset's dataset_config")] = None,
) -> None:
    """Print the JSON schema of a trial file (``gnnbench run --config FILE``); with -m/-b/-d, the
    plugin sections are described by those plugins' options."""
    from ..config import TrialConfig
    from ..registry import load

    data = TrialConfig.model_json_schema()
    props = data["properties"]
    props["seeds"] = {"type": "array", "items": {"type": "integer", "minimum": 0},
                      "description": "the trial's seeds, instead of one seed"}
    for kind, name in (("method", method), ("backbone", backbone), ("dataset", dataset)):
        if name is not None:
            sub = load(f"{kind}s", name).Config.model_json_schema()
            data.setdefault("$defs", {}).update(sub.pop("$defs", {}))
            props[f"{kind}_config"] = {**sub, "title": f"{kind}_config of '{name}'"}
            props[kind] = {"const": name, "type": "string"}
    print(json.dumps(data, indent=2, ensure_ascii=False))
