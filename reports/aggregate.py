"""Trials from the results store as a pandas frame, aggregated over seeds.

A trial whose method needs no backbone (``backbone`` ``None``) is shown as :data:`NO_BACKBONE`.
Trials whose configurations are identical but for the seed share a ``config_hash``
(:func:`gnnbench.config.config_hash`, which includes the resolved device: a CPU and a CUDA trial of
one configuration are two groups); a *group* is one ``(dataset, method, backbone, config_hash)``
and every figure of a report is the mean (and sample standard deviation, ``ddof=1``) over the
completed trials of a group, one per seed (the latest when a seed was run again).  When one ``(dataset, method, backbone)`` holds several groups, each
gets its own *variant* label — ``method · epochs=20`` (the settings that differ) or
``method · <7 hex digits of its hash>`` — so that configurations are shown side by side instead of
being mixed.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from gnnbench.errors import ConfigError, closest
from gnnbench.filters import Filters

__all__ = ["Filters", "load_trials", "aggregate", "config_differences", "graph_size", "flatten",
           "STATUS_ORDER", "SIZE_KEYS", "MAX_LABEL", "PHASES", "PHASE_MEMORY", "SPREAD", "NO_BACKBONE"]

#: a group without a completed trial is shown by the first of these statuses it has
STATUS_ORDER = ("oom", "failed", "interrupted", "running")
#: dataset_config keys that set the size of a synthetic graph (ignored when matching scaling series)
SIZE_KEYS = ("num_nodes", "num_edges", "avg_degree", "preset")
#: what a row whose method needs no backbone (``TrialConfig.backbone = None``: sgc, sign) shows
NO_BACKBONE = "no backbone"
#: the runner's phases (issue 15): dataset loading, ``method.setup``, all epochs, the final predict
PHASES = ("load", "preprocess", "train", "inference")
#: per-phase working memory (bytes): peak of the phase minus what was in use at its start
PHASE_MEMORY = tuple(f"{p}_{kind}_bytes" for kind in ("cpu", "gpu", "gpu_reserved") for p in PHASES)
#: per-seed figures whose spread the report shows: metrics (mean ± std), times (median and IQR)
SPREAD = ("test_metric", "val_metric", "train_time_s", "epoch_time_s", "epoch_sample_s", "epoch_transfer_s",
          "epoch_compute_s", "inference_time_s", "preprocess_time_s", "load_time_s")
#: batch figures and parameters averaged over seeds (they differ only when sampling differs)
_BATCH = ("num_parameters", "num_batches", "nodes_per_batch_mean", "nodes_per_batch_max",
          "messages_per_batch_mean", "messages_per_batch_max")


def load_trials(store, filters: Filters):
    """The trials matching ``filters`` as a DataFrame (one row per trial, with its ``curve``).

    Columns: :data:`gnnbench.store.RESULT_KEYS` and ``curve`` (list of per-epoch dicts).

    Raises:
        ConfigError: nothing matches; the message lists what the store holds and the closest name.
    """
    import pandas as pd
    from gnnbench.store import RESULT_KEYS

    rows = store.trials(**filters.query(), with_curves=True)
    if not rows:
        everything = store.trials()
        if not everything:
            raise ConfigError(f"the results database '{store.url}' holds no trials; run `gnnbench run` first "
                              f"or pass the right --db")
        hints = []
        for key, wanted in (("dataset", filters.dataset), ("method", filters.method), ("backbone", filters.backbone)):
            stored = sorted({r[key] for r in everything})
            for name in wanted:
                if name not in stored:
                    hint = closest(name, stored)
                    hints.append(f"no {key} '{name}'{'; did you mean ' + repr(hint) + '?' if hint else ''} "
                                 f"stored {key}s: {', '.join(stored)}")
        detail = "; ".join(hints) or (f"the {len(everything)} stored trial(s) fall outside the date range or "
                                      f"the combination of filters")
        raise ConfigError(f"no trials match the filters: {detail}")
    return pd.DataFrame(rows, columns=[*RESULT_KEYS, "curve"])


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts → ``{"a.b.c": value}`` (lists and scalars are leaves)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def graph_size(config: dict[str, Any] | None) -> int | None:
    """Number of nodes a trial stored before schema version 2 (no ``num_nodes`` field) asked for:
    ``dataset_config.num_nodes`` when its configuration names it, else ``None`` (no plugin is imported)."""
    n = ((config or {}).get("dataset_config") or {}).get("num_nodes")
    return int(n) if isinstance(n, int) else None


def _series_key(config: dict[str, Any] | None) -> str:
    """A hash of a configuration without seed, dataset and graph size: the points of one scaling line
    (the same method settings on graphs of different sizes, of one dataset or several)."""
    data = json.loads(json.dumps(config or {}))
    data.pop("seed", None)
    data.pop("dataset", None)
    for key in SIZE_KEYS:
        (data.get("dataset_config") or {}).pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _numeric_fields() -> tuple[str, ...]:
    """The numeric fields of :class:`gnnbench.types.TrialRecord` (int or float): the report's figures."""
    from dataclasses import fields

    from gnnbench.types import TrialRecord

    return tuple(f.name for f in fields(TrialRecord) if str(f.type).split("|")[0].strip() in ("int", "float"))


_NUMERIC = _numeric_fields()
#: per-group means of these record fields (seconds, bytes, nodes) appear in the aggregate
_MEANS = tuple(c for c in _NUMERIC if c.endswith(("_time_s", "_bytes")) and c != "epoch_time_s")


def _median_iqr(series) -> tuple[float | None, float | None, float | None]:
    """``(median, first quartile, third quartile)`` of the non-null values (linear interpolation)."""
    s = series.dropna()
    if not len(s):
        return None, None, None
    return float(s.median()), float(s.quantile(0.25)), float(s.quantile(0.75))


def _extra_facts(extras) -> dict[str, float]:
    """The mean over seeds of each numeric fact a method reported about itself (``extra``)."""
    values: dict[str, list[float]] = {}
    for extra in extras:
        for key, value in flatten(extra or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault(key, []).append(float(value))
    return {k: sum(v) / len(v) for k, v in values.items()}


def _mean(series) -> float | None:
    s = series.dropna()
    return float(s.mean()) if len(s) else None


def _std(series) -> float | None:
    s = series.dropna()
    return float(s.std(ddof=1)) if len(s) > 1 else None


def aggregate(trials) -> Any:
    """One row per group ``(dataset, method, backbone, config_hash)``, aggregated over seeds.

    Args:
        trials: the frame of :func:`load_trials`.

    Returns:
        a DataFrame sorted by dataset, method, backbone, variant, with columns: ``dataset, method,
        backbone, config_hash, variant, metric, status`` (``completed`` when a trial completed, else
        the first of :data:`STATUS_ORDER` present), ``n_trials, n_completed, n_oom, n_failed,
        seeds`` (completed seeds), ``test_mean, test_std, val_mean, val_std`` (metric in [0, 1]),
        ``epochs_mean``, per-epoch ``epoch_time_s, epoch_sample_s, epoch_compute_s`` (seconds, mean
        over epochs then seeds), ``train_time_s, inference_time_s, preprocess_time_s, load_time_s``
        (seconds), ``peak_cpu_rss_bytes, peak_gpu_allocated_bytes, peak_gpu_nvml_bytes`` (bytes;
        GPU figures ``None`` on CPU), the per-phase working memory :data:`PHASE_MEMORY` (bytes, mean;
        ``None`` for trials stored before it was measured) and ``memory_note``; for each of
        :data:`SPREAD` the per-seed ``<col>_values`` and ``<col>_median, <col>_q1, <col>_q3``; the
        batch figures and ``num_parameters`` (mean); ``extra`` (mean of each numeric fact the method
        reported); ``environments`` (every trial's environment dict), ``first_started_at``,
        ``last_finished_at``; ``device``, ``num_nodes`` / ``num_edges`` (the stored graph size), ``series`` (scaling-line
        key), ``config``, ``last_started_at`` and ``curves`` (list of per-seed curves).
    """
    import pandas as pd

    df = trials.copy()
    for col in PHASE_MEMORY + ("memory_note",):  # trials stored before issue 15 lack them
        if col not in df:
            df[col] = None
    df["backbone"] = df["backbone"].where(df["backbone"].notna(), NO_BACKBONE)
    for col in (*_NUMERIC, *PHASE_MEMORY):  # all-None columns (every trial failed) come back as objects
        df[col] = pd.to_numeric(df[col], errors="coerce")
    epochs = df["epochs"].where(df["epochs"] > 0)
    df["epoch_sample_s"] = df["sample_time_s"] / epochs
    df["epoch_transfer_s"] = df["transfer_time_s"] / epochs
    df["epoch_compute_s"] = df["compute_time_s"] / epochs
    out = []
    for (dataset, method, backbone, chash), g in df.groupby(["dataset", "method", "backbone", "config_hash"],
                                                              sort=False, dropna=False):
        # one trial per seed (the latest completed, e.g. after --rerun): n counts distinct seeds
        done = g[g["status"] == "completed"].sort_values("started_at", kind="stable").drop_duplicates("seed", keep="last")
        statuses = set(g["status"])
        status = "completed" if len(done) else next((s for s in STATUS_ORDER if s in statuses), min(statuses))
        config = g["config"].iloc[-1]
        row = {"dataset": dataset, "method": method, "backbone": backbone, "config_hash": chash,
               "device": next((d for d in g["device"] if isinstance(d, str) and d), None),
               "metric": next((m for m in g["metric"] if isinstance(m, str) and m), None), "status": status,
               "n_trials": len(g), "n_completed": len(done), "n_oom": int((g["status"] == "oom").sum()),
               "n_failed": int((g["status"] == "failed").sum()),
               "seeds": sorted(int(s) for s in done["seed"]),
               "test_mean": _mean(done["test_metric"]), "test_std": _std(done["test_metric"]),
               "val_mean": _mean(done["val_metric"]), "val_std": _std(done["val_metric"]),
               "epochs_mean": _mean(done["epochs"])}
        for col in dict.fromkeys(("epoch_time_s", "epoch_sample_s", "epoch_transfer_s", "epoch_compute_s", *_MEANS,
                                  *PHASE_MEMORY, *_BATCH)):
            row[col] = _mean(done[col])
        for col in SPREAD:
            row[f"{col}_values"] = [float(v) for v in done[col].dropna()]
            row[f"{col}_median"], row[f"{col}_q1"], row[f"{col}_q3"] = _median_iqr(done[col])
        row["memory_note"] = next((n for n in g["memory_note"] if n), None)
        row["extra"] = _extra_facts([e for e in done.get("extra", []) if isinstance(e, dict)])
        row["environments"] = [e for e in g.get("environment", []) if isinstance(e, dict) and e]
        row["first_started_at"] = min((s for s in g["started_at"] if isinstance(s, str) and s), default="")
        row["last_finished_at"] = max((s for s in g.get("finished_at", []) if isinstance(s, str) and s), default="")
        sized = done if done["num_nodes"].notna().any() else g  # an OOM trial stores the graph it loaded
        row["num_nodes"] = _mean(sized["num_nodes"]) if sized["num_nodes"].notna().any() else graph_size(config)
        row["num_edges"] = _mean(done["num_edges"])
        row["series"] = _series_key(config)
        row["config"] = config
        row["last_started_at"] = max((s for s in g["started_at"] if s), default="")
        row["curves"] = [c for c in done["curve"] if c]
        out.append(row)
    agg = pd.DataFrame(out)
    agg["variant"] = _variants(agg)
    return agg.sort_values(["dataset", "method", "variant", "backbone"], kind="stable").reset_index(drop=True)


#: a variant label longer than this falls back to the short config hash
MAX_LABEL = 32


def _variants(agg) -> list[str]:
    """Row labels: the method's name; where it has several configs for one backbone, each row adds
    the settings in which it differs (``ns_sage · epochs=20``) or, when that is long or ambiguous,
    7 hex digits of its config hash (``ns_sage · 1f7e5fd``)."""
    labels = dict(zip(agg.index, agg["method"]))
    for (_, method), g in agg.groupby(["dataset", "method"], sort=False):
        if g.groupby("backbone")["config_hash"].nunique().max() < 2:
            continue
        shared = {i: {**{k: v for k, v in (c or {}).items() if k not in ("seed", "backbone", "backbone_config")},
                      "device": d or (c or {}).get("device")}  # the device that ran, not "auto"
                  for i, c, d in zip(g.index, g["config"], g["device"])}
        flat = {i: flatten(c) for i, c in shared.items()}
        keys = sorted(set().union(*flat.values()))
        varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat.values()}) > 1]
        texts = {i: ", ".join(f"{k.split('.')[-1]}={json.dumps(f.get(k), separators=(',', ':'), ensure_ascii=False)}" for k in varying)
                 for i, f in flat.items()}
        pairs = [(texts[i], b) for i, b in zip(g.index, g["backbone"])]
        readable = all(0 < len(t) <= MAX_LABEL for t in texts.values()) and len(set(pairs)) == len(pairs)
        for i, h in zip(g.index, g["config_hash"]):
            labels[i] = f"{method} · {texts[i] if readable else h[:7]}"
    return [labels[i] for i in agg.index]


def config_differences(configs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """For configs keyed by label, the ``key=value`` settings in which each differs from the others.

    Args:
        configs: label → full configuration dict (as stored).

    Returns:
        label → ``"train.epochs=50, method_config.fanouts=[10, 5]"`` (seed excluded; ``"(same)"``
        when nothing differs, which only happens for configs hashed by another gnnbench version).
    """
    flat = {label: flatten({k: v for k, v in (c or {}).items() if k != "seed"}) for label, c in configs.items()}
    keys = sorted(set().union(*flat.values())) if flat else []
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat.values()}) > 1]
    return {label: ", ".join(f"{k}={json.dumps(f.get(k), ensure_ascii=False)}" for k in varying) or "(same)"
            for label, f in flat.items()}
