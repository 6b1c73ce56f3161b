"""What each row of a report ran, and on what: the settings of its configuration and the environment.

* :func:`settings_of` — the settings of one stored configuration that say what a trial ran:
  ``epochs`` and the other training options, the per-batch budget, the method's and the
  backbone's options, the dataset's options and the device, as ``{key: value}``.
* :func:`split_settings` — for the rows of one table, the settings every row shares (stated once
  above the table) and, per row, the ones that are its own (its *settings* column).
* :func:`batch_setting` — the one setting that fixes a row's batch: the budget where one is set,
  else the method's batch size (or parts per batch, walk roots), else ``full graph``.
* :func:`environment_block` — device, CPU, threads, library versions, git commit, the absolute
  database location and the date range of the trials.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .aggregate import NO_BACKBONE, flatten

__all__ = ["settings_of", "split_settings", "format_settings", "batch_setting", "environment_block",
           "database_location", "BATCH_KEYS"]

#: sections of a stored configuration shown as settings, with the prefix their keys get
_SECTIONS = (("train", ""), ("budget", "budget."), ("method_config", "method."), ("backbone_config", "backbone."),
             ("dataset_config", "dataset."))
#: method options that set the batch when no budget is set, in order of preference
BATCH_KEYS = ("batch_size", "parts_per_batch", "num_roots", "num_parts")


def _text(value: Any) -> str:
    """A setting's value as typed (JSON, non-ASCII kept as itself; ``None`` → ``none``)."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def settings_of(config: dict[str, Any] | None, device: str | None = None) -> dict[str, str]:
    """The settings of a stored trial configuration, as display text by key.

    Args:
        config: the stored configuration (``TrialConfig`` as JSON data).
        device: the device the trial ran on (shown instead of ``auto``; a trial that has not run
            yet with ``device = "auto"`` has no ``device`` setting).

    Returns:
        ``{"epochs": "200", "lr": "0.01", "budget.messages_per_batch": "1500000",
        "method.num_codewords": "256", "backbone.hidden_channels": "16", "device": "cpu", …}``;
        training options without a prefix, budget keys only where the budget is set.
    """
    config = config or {}
    out: dict[str, str] = {}
    for section, prefix in _SECTIONS:
        data = _dataset_shape(config) if section == "dataset_config" else config.get(section)
        for key, value in flatten(data or {}).items():
            if section == "budget" and value is None:
                continue
            out[prefix + key] = _text(value)
    if isinstance(device, str) and device:
        out["device"] = device
    elif config.get("device", "auto") != "auto":
        out["device"] = str(config["device"])
    return out


def _dataset_shape(config: dict[str, Any]) -> dict[str, Any]:
    """The dataset options with the graph's shape as the dataset built it: a dataset whose
    ``Config`` has ``shape()`` (the synthetic graphs, whose ``preset`` replaces ``num_nodes``,
    ``num_edges``, ``num_features`` and ``num_classes``) shows those values, not the stored
    defaults a preset overrode; ``avg_degree`` goes where ``num_edges`` is then known."""
    data = dict(config.get("dataset_config") or {})
    if not data.get("preset"):
        return data
    try:
        from gnnbench import registry

        shape = registry.load("datasets", config.get("dataset", "")).Config(**data).shape()
    except Exception:  # noqa: BLE001 - an uninstalled or changed plugin: show what was stored
        return data
    data.update(shape)
    data.pop("avg_degree", None)
    return data


def split_settings(rows: list[dict[str, str]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The settings all ``rows`` share, and each row's others.

    Returns:
        ``(shared, own)``: ``shared`` holds each key present with one value in every row; ``own[i]``
        the rest of row ``i`` (a key absent from a row, e.g. another method's option, is simply not
        in that row's settings).
    """
    if not rows:
        return {}, []
    keys = list(dict.fromkeys(k for r in rows for k in r))
    shared = {k: rows[0][k] for k in keys if all(k in r and r[k] == rows[0][k] for r in rows)}
    return shared, [{k: v for k, v in r.items() if k not in shared} for r in rows]


def format_settings(settings: dict[str, str], *, empty: str = "") -> str:
    """``"epochs=200 · method.batch_size=512"`` (keys in their stored order)."""
    return " · ".join(f"{k}={v}" for k, v in settings.items()) or empty


def batch_setting(config: dict[str, Any] | None) -> str:
    """What fixes a trial's batch: ``"messages/batch=1500000"`` or ``"nodes/batch=85000"`` (a budget),
    else the method's own option (``"batch_size=512"``, ``"parts_per_batch=4"``), else ``"full graph"``
    for a method without one (full-graph training), else ``"method default"``."""
    config = config or {}
    budget = config.get("budget") or {}
    if budget.get("messages_per_batch"):
        return f"messages/batch={budget['messages_per_batch']}"
    if budget.get("nodes_per_batch"):
        return f"nodes/batch={budget['nodes_per_batch']}"
    options = config.get("method_config") or {}
    for key in BATCH_KEYS:
        if options.get(key) is not None:
            return f"{key}={_text(options[key])}"
    return "full graph" if config.get("method") == "full_graph" else "method default"


def database_location(url: str) -> str:
    """The store's location as a reader can find it again: an SQLite file as its absolute path,
    another database as its URL without the password."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - shown for information only
        return url
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return "sqlite (in memory)"
        return str(Path(parsed.database).expanduser().resolve())
    return parsed.render_as_string(hide_password=True)


#: (label, environment keys joined by a space) of the environment block
_ENVIRONMENT = (("device", ("device", "device_name")), ("CPU", ("cpu_model",)), ("CPU cores", ("cpu_count",)),
                ("torch threads", ("torch_threads",)), ("python", ("python",)), ("torch", ("torch",)),
                ("PyG", ("torch_geometric",)), ("CUDA", ("cuda",)), ("gnnbench", ("gnnbench",)),
                ("git commit", ("git_commit",)), ("host", ("host",)), ("platform", ("platform",)))


def environment_block(agg, url: str) -> list[tuple[str, str]]:
    """``(label, value)`` pairs describing where the report's trials ran.

    Each environment field is shown once when every trial agrees, else as ``"a (5 trials), b (2)"``;
    then the database (absolute path) and the range of the trials' start and finish times (UTC).
    """
    from collections import Counter

    envs = [e for es in agg["environments"] for e in es]
    out = []
    for label, keys in _ENVIRONMENT:
        counts = Counter(" ".join(dict.fromkeys(_text(e.get(k)) for k in keys if e.get(k) is not None)) for e in envs)
        counts.pop("", None)
        if not counts:
            continue
        if len(counts) == 1:
            out.append((label, next(iter(counts))))
        else:
            out.append((label, ", ".join(f"{v} ({n} trials)" for v, n in counts.most_common())))
    out.append(("database", database_location(url)))
    first = min((s for s in agg["first_started_at"] if s), default="")
    last = max((s for s in agg["last_finished_at"] if s), default="") or max(
        (s for s in agg["last_started_at"] if s), default="")
    if first:
        out.append(("trials ran", f"{_short_time(first)} – {_short_time(last)} UTC"))
    return out


def _short_time(iso: str) -> str:
    return iso.replace("T", " ")[:16] if iso else "?"


def backbone_label(name: Any) -> str:
    """A row's backbone as shown: its name, or ``no backbone`` for methods that need none."""
    return NO_BACKBONE if name is None else str(name)
