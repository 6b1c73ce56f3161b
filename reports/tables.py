"""The report's tables, built from aggregated groups and rendered by :mod:`.markdown` and :mod:`.html`.

* :func:`performance_table` — methods as rows, backbones as columns, the test metric as
  ``mean ± std (n=seeds)`` in percent, the best mean of each column marked, groups without a
  completed trial shown as ``OOM`` / ``failed`` (the layout of Table 4 of Ding et al. 2021, VQ-GNN).
* :func:`resources_table` — peak GPU and CPU memory, epoch time split into sampling and compute,
  inference and preprocessing time, each also as a ratio to ``full_graph`` with the same backbone
  (the layout of Table 3 of Ding et al. 2021).

A :class:`Table` holds display text only (no markup), so that each renderer escapes it for its
own format; ``frame`` holds the same figures as numbers for the CSV files.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cell", "Table", "performance_table", "resources_table", "variant_notes", "BASELINE",
           "format_metric", "MIB"]

#: the method every resource ratio is relative to
BASELINE = "full_graph"
MIB = 2**20
_STATUS_TEXT = {"oom": "OOM", "failed": "failed", "interrupted": "interrupted", "running": "running"}


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, whether it is the best of its column, and a CSS-friendly kind."""

    text: str
    best: bool = False
    kind: str = "value"  # value, empty, oom, failed, interrupted, running, label


@dataclass
class Table:
    """A rendered-ready table: ``header`` labels and ``rows`` of :class:`Cell` (the first is the row label)."""

    title: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    frame: Any = None  # pandas DataFrame with the numbers, for CSV


def format_metric(mean: float | None, std: float | None, n: int) -> str:
    """``"82.00 ± 2.00 (n=3)"``: a metric in [0, 1] shown in percent with two decimals.

    The std is the sample standard deviation over seeds (``ddof=1``); with one seed it is left out:
    ``"82.00 (n=1)"``.
    """
    if mean is None:
        return "—"
    text = f"{100 * mean:.2f}"
    if std is not None and not math.isnan(std):
        text += f" ± {100 * std:.2f}"
    return f"{text} (n={n})"


def _status_cell(row) -> Cell:
    if row["status"] == "completed":
        text = format_metric(row["test_mean"], row["test_std"], row["n_completed"])
        lost = [f"{row['n_oom']} OOM" if row["n_oom"] else "", f"{row['n_failed']} failed" if row["n_failed"] else ""]
        lost = [x for x in lost if x]
        if lost:
            text = text[:-1] + "; " + ", ".join(lost) + ")"
        return Cell(text)
    label = _STATUS_TEXT.get(row["status"], str(row["status"]))
    k = {"oom": row["n_oom"], "failed": row["n_failed"]}.get(row["status"], row["n_trials"])
    return Cell(f"{label} ({k}/{row['n_trials']})" if row["n_trials"] > 1 else label,
                kind=row["status"] if row["status"] in _STATUS_TEXT else "failed")


def _row_order(sub) -> list[str]:
    """Variants with the baseline first, then by name in natural order (``n=500`` before ``n=1000``)."""
    variants = list(dict.fromkeys(sub["variant"]))

    def key(v: str):
        parts = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", v)]
        return (v.split(" · ")[0] != BASELINE, parts)

    return sorted(variants, key=key)


def performance_table(agg, dataset: str) -> Table:
    """Test metric per method (rows) and backbone (columns) on ``dataset``; best mean per column marked.

    Args:
        agg: the frame of :func:`gnnbench.reports.aggregate.aggregate`.
        dataset: which dataset's groups to show.

    Returns:
        a :class:`Table` whose cells are ``"mean ± std (n=seeds)"`` in percent (``"…; 1 OOM)"``
        when some seeds did not complete), ``"OOM"`` / ``"failed"`` when none did (``"OOM (k/n)"``
        when n > 1 trials were tried), or ``"—"`` (not run); the frame has one row per group with
        ``test_mean, test_std`` in [0, 1] and ``best``.
    """
    sub = agg[agg["dataset"] == dataset]
    metric = next((m for m in sub["metric"] if m), "metric")
    backbones = sorted(set(sub["backbone"]))
    best_mean = {}
    for b in backbones:
        means = [m for m in sub.loc[(sub["backbone"] == b) & (sub["status"] == "completed"), "test_mean"]
                 if m is not None and not math.isnan(m)]
        best_mean[b] = max(means) if means else None
    rows, best_flags = [], {}
    for variant in _row_order(sub):
        cells = [Cell(variant, kind="label")]
        for b in backbones:
            hit = sub[(sub["variant"] == variant) & (sub["backbone"] == b)]
            if hit.empty:
                cells.append(Cell("—", kind="empty"))
                continue
            row = hit.iloc[0]
            cell = _status_cell(row)
            is_best = (cell.kind == "value" and best_mean[b] is not None
                       and math.isclose(row["test_mean"], best_mean[b], rel_tol=0, abs_tol=1e-12))
            best_flags[row["config_hash"]] = is_best
            cells.append(Cell(cell.text, best=is_best, kind=cell.kind))
        rows.append(cells)
    frame = sub[["dataset", "method", "variant", "backbone", "config_hash", "metric", "status", "n_trials",
                 "n_completed", "n_oom", "n_failed", "test_mean", "test_std", "val_mean", "val_std"]].copy()
    frame["seeds"] = [" ".join(map(str, s)) for s in sub["seeds"]]
    frame["best"] = [best_flags.get(h, False) for h in sub["config_hash"]]
    notes = [(f"test {metric} in %, mean ± sample std over seeds (n = completed seeds); the best mean of "
              f"each backbone is marked; OOM / failed: no seed completed; — : not run.")]
    return Table(title=f"{dataset}: test {metric} (%)", header=["method", *backbones], rows=rows,
                 notes=notes + variant_notes(sub), frame=frame.reset_index(drop=True))


def variant_notes(sub) -> list[str]:
    """One note per ``(method, backbone)`` with several configurations: how their configs differ."""
    from .aggregate import config_differences

    notes = []
    for (method, backbone), g in sub.groupby(["method", "backbone"], sort=True):
        if g["config_hash"].nunique() < 2 or not any(v.endswith(h[:7]) for v, h in zip(g["variant"], g["config_hash"])):
            continue  # one configuration, or labels that already say how they differ
        diffs = config_differences({v: c for v, c in zip(g["variant"], g["config"])})
        notes.append(f"{method} / {backbone}: " + "; ".join(f"{v}: {d}" for v, d in diffs.items()))
    return notes


#: (header, aggregate column, unit divisor, format) of the resources table
_RESOURCES = [
    ("peak GPU (MiB)", "peak_gpu_allocated_bytes", MIB, "{:.0f}"),
    ("peak CPU RSS (MiB)", "peak_cpu_rss_bytes", MIB, "{:.0f}"),
    ("sampling / epoch (s)", "epoch_sample_s", 1, "{:.4f}"),
    ("compute / epoch (s)", "epoch_compute_s", 1, "{:.4f}"),
    ("epoch (s)", "epoch_time_s", 1, "{:.4f}"),
    ("inference (s)", "inference_time_s", 1, "{:.4f}"),
    ("preprocess (s)", "preprocess_time_s", 1, "{:.4f}"),
]


def _baseline(sub, backbone: str, dataset_config: dict | None = None):
    """The full_graph group for ``backbone`` on the same graph (same ``dataset_config``, e.g. the same
    synthetic size) when there is one, else on any; most completed seeds, then the latest started."""
    import json

    cand = sub[(sub["method"] == BASELINE) & (sub["backbone"] == backbone) & (sub["status"] == "completed")]
    same = [json.dumps((c or {}).get("dataset_config"), sort_keys=True) == json.dumps(dataset_config, sort_keys=True)
            for c in cand["config"]]
    if any(same):
        cand = cand[same]
    if cand.empty:
        return None
    return cand.sort_values(["n_completed", "last_started_at"]).iloc[-1]


def _ratio(value, base) -> float | None:
    if value is None or base is None or _isnan(value) or _isnan(base) or base <= 0:
        return None
    return float(value) / float(base)


def _isnan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def resources_table(agg, dataset: str) -> Table:
    """Memory and time per (method, backbone) on ``dataset``, each with its ratio to ``full_graph``.

    Cells read ``"value (ratio×)"`` where a completed ``full_graph`` group with the same backbone
    exists, else ``"value"``; ``"—"`` where the figure was not measured (GPU memory on CPU runs) and
    the status (``OOM`` / ``failed``) for groups without a completed trial. Memory is the mean
    over seeds of each trial's peak, in MiB; times are in seconds, per epoch for sampling,
    compute and epoch (sampling + compute, validation excluded).

    Returns:
        a :class:`Table`; its frame has the raw means (bytes, seconds) and ``*_ratio`` columns.
    """
    sub = agg[agg["dataset"] == dataset]
    rows, records = [], []
    for variant in _row_order(sub):
        for _, row in sub[sub["variant"] == variant].sort_values("backbone").iterrows():
            base = _baseline(sub, row["backbone"], (row["config"] or {}).get("dataset_config"))
            cells = [Cell(variant, kind="label"), Cell(row["backbone"], kind="label")]
            record = {"dataset": dataset, "method": row["method"], "variant": variant, "backbone": row["backbone"],
                      "config_hash": row["config_hash"], "status": row["status"], "n_completed": row["n_completed"]}
            for header, col, div, fmt in _RESOURCES:
                value = row[col] if row["status"] == "completed" else None
                value = None if value is None or _isnan(value) else value
                ratio = _ratio(value, None if base is None else base[col])
                record[col], record[f"{col}_ratio"] = value, ratio
                if row["status"] != "completed":
                    cells.append(Cell(_STATUS_TEXT.get(row["status"], row["status"]), kind=row["status"]))
                elif value is None:
                    cells.append(Cell("—", kind="empty"))
                else:
                    text = fmt.format(value / div)
                    cells.append(Cell(f"{text} ({ratio:.2f}×)" if ratio is not None else text))
            rows.append(cells)
            records.append(record)
    notes = [(f"mean over completed seeds; (×) = ratio to {BASELINE} with the same backbone; memory is each "
              "trial's peak in MiB (GPU: torch.cuda.max_memory_allocated; CPU: peak RSS of the trial's process, "
              "which includes the Python and torch runtime); epoch = sampling + compute, validation excluded.")]
    import pandas as pd

    return Table(title=f"{dataset}: resources", header=["method", "backbone", *(h for h, *_ in _RESOURCES)],
                 rows=rows, notes=notes, frame=pd.DataFrame(records))
