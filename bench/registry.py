"""Plugin discovery through entry points, validated when loaded (the pluggy / datasette way).

Built-in plugins are registered in gnnbench's own ``pyproject.toml`` exactly like third-party ones,
under the groups ``gnnbench.methods``, ``gnnbench.backbones`` and ``gnnbench.datasets``.
"""
from __future__ import annotations

import functools
import importlib.metadata as md
from dataclasses import dataclass

from .errors import PluginError, UnknownNameError
from .protocols import REQUIRED_ATTRIBUTES

__all__ = ["KINDS", "PluginEntry", "entries", "load", "names", "describe"]

#: plugin kinds (the singular is used in messages, the plural in entry-point groups)
KINDS = {"methods": "method", "backbones": "backbone", "datasets": "dataset"}


@dataclass(frozen=True)
class PluginEntry:
    """One registered plugin: its name, where it comes from, and (once loaded) its class or error."""

    kind: str
    name: str
    value: str
    distribution: str

    @property
    def group(self) -> str:
        return f"gnnbench.{self.kind}"

    @property
    def where(self) -> str:
        return f"entry point '{self.group}:{self.name} = {self.value}' of distribution '{self.distribution}'"


def _dist_name(ep: md.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "(unknown distribution)"
    return f"{dist.metadata['Name']} {dist.version}"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind '{kind}'; choices: {', '.join(KINDS)}")


@functools.lru_cache(maxsize=None)
def entries(kind: str) -> dict[str, PluginEntry]:
    """All plugins registered for ``kind`` (``"methods"``, ``"backbones"``, ``"datasets"``), by name.

    Raises:
        PluginError: two distributions register the same name.
    """
    _check_kind(kind)
    found: dict[str, PluginEntry] = {}
    for ep in md.entry_points(group=f"gnnbench.{kind}"):
        entry = PluginEntry(kind, ep.name, ep.value, _dist_name(ep))
        previous = found.get(ep.name)
        if previous is not None and previous.value != entry.value:
            raise PluginError(
                f"{KINDS[kind]} '{ep.name}' is registered twice: by {previous.where} and by "
                f"{entry.where}; uninstall one of the two distributions"
            )
        found[ep.name] = entry
    return dict(sorted(found.items()))


def names(kind: str) -> list[str]:
    """The registered names of ``kind``, sorted."""
    return list(entries(kind))


@functools.lru_cache(maxsize=None)
def load(kind: str, name: str) -> type:
    """Import and validate the plugin class registered as ``name``.

    Raises:
        UnknownNameError: no plugin of that name (the message names the closest and all choices).
        PluginError: the plugin fails to import or misses a required attribute; the message names
            its entry point and distribution.
    """
    registered = entries(kind)
    if name not in registered:
        raise UnknownNameError(KINDS[kind], name, registered)
    entry = registered[name]
    module_name, _, attr = entry.value.partition(":")
    try:
        module = __import__(module_name, fromlist=["_"])
        obj = module
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except Exception as exc:  # any import-time failure of a third-party plugin
        raise PluginError(f"{KINDS[kind]} '{name}' failed to load from {entry.where}: "
                          f"{type(exc).__name__}: {exc}") from exc
    missing = [a for a in REQUIRED_ATTRIBUTES[kind] if not hasattr(obj, a)]
    if missing:
        raise PluginError(f"{KINDS[kind]} '{name}' ({entry.where}) lacks required attribute(s) "
                          f"{', '.join(missing)}; see the plugin guide in README.md")
    config_cls = getattr(obj, "Config")
    try:
        from pydantic import BaseModel
        ok = isinstance(config_cls, type) and issubclass(config_cls, BaseModel)
    except Exception:  # pragma: no cover
        ok = False
    if not ok:
        raise PluginError(f"{KINDS[kind]} '{name}' ({entry.where}): Config must be a pydantic BaseModel "
                          f"subclass, got {config_cls!r}")
    return obj


def describe(kind: str) -> list[tuple[str, str, str, str | None]]:
    """``(name, description, distribution, error)`` for every plugin of ``kind``.

    A broken plugin is listed with its error instead of raising, so that ``gnnbench list`` always
    answers.
    """
    rows = []
    for name, entry in entries(kind).items():
        try:
            cls = load(kind, name)
            rows.append((name, str(getattr(cls, "description", "")).strip(), entry.distribution, None))
        except PluginError as exc:
            rows.append((name, "", entry.distribution, str(exc)))
    return rows
