"""The report's tables, built from aggregated groups and rendered by :mod:`.markdown`, :mod:`.html`
and :mod:`.latex`.

Every table has one row per group ``(method, backbone, configuration)`` and says what it ran: the
``epochs`` and ``batch`` columns, and a ``settings`` column with the options that are the row's own;
the settings every row shares are stated once above the table (:attr:`Table.settings`).

* :func:`performance_table` — the test metric as ``mean ± std (n=seeds)`` in percent, the best mean
  of each backbone marked, and the difference from ``full_graph`` with the same backbone with its
  Welch t-test (:mod:`.stats`), non-significant differences marked *n.s.*; groups without a
  completed trial shown as ``OOM`` / ``failed``.
* :func:`time_table` — epoch time split into sampling and compute, inference and preprocessing
  time: median and interquartile range over seeds, with the ratio of medians to ``full_graph``
  where both are worth dividing (:data:`.stats.RATIO_MIN_S`).
* :func:`memory_table` — working memory per phase (issue 15: peak of the phase minus what was in
  use at its start; GPU columns only where a trial measured them; the process's peak RSS only with
  ``memory="rss"``), parameters, batch figures and the method's own facts (``extra``).

A :class:`Table` holds display text only (no markup), so that each renderer escapes it for its
own format; ``frame`` holds every shown column as numbers and text, for the CSV files.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .aggregate import PHASES
from .settings import batch_setting, format_settings, settings_of, split_settings
from .stats import (RATIO_MIN_BYTES, RATIO_MIN_S, format_mean_std, format_median_iqr, ratio, welch)

__all__ = ["Cell", "Table", "performance_table", "time_table", "memory_table", "resources_table", "variant_notes",
           "BASELINE", "format_metric", "MIB", "MEMORY_CHOICES", "baseline_group", "row_settings"]

#: the method every ratio and significance test is relative to
BASELINE = "full_graph"
MIB = 2**20
#: ``--memory``: the per-phase working memory (default) or the process's peak RSS
MEMORY_CHOICES = ("working", "rss")
_STATUS_TEXT = {"oom": "OOM", "failed": "failed", "interrupted": "interrupted", "running": "running"}
#: settings shown in columns of their own, so left out of the settings column and line
_COLUMN_SETTINGS = ("epochs",)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, whether it is the best of its column, and a CSS-friendly kind."""

    text: str
    best: bool = False
    kind: str = "value"  # value, empty, oom, failed, interrupted, running, label, ns, setting, settings


@dataclass
class Table:
    """A rendered-ready table: ``header`` labels and ``rows`` of :class:`Cell`.

    Attributes:
        name: file stem of its CSV and LaTeX files (``performance_cora``).
        settings: ``(key, value)`` pairs every row shares, stated once above the table.
        nowrap: cells must not wrap (the renderers keep each cell on one line).
    """

    title: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    frame: Any = None  # pandas DataFrame with the numbers and the shown text, for CSV
    name: str = "table"
    settings: list[tuple[str, str]] = field(default_factory=list)
    nowrap: bool = False

    def csv_frame(self):
        """Every column the table shows (as shown), the settings all rows share (``setting.<key>``)
        and the numbers behind them (the ``frame`` columns not already shown)."""
        import pandas as pd

        shown = pd.DataFrame([[c.text for c in row] for row in self.rows], columns=self.header)
        for key, value in self.settings:
            shown[f"setting.{key}"] = value
        if self.frame is None or self.frame.empty:
            return shown
        extra = self.frame[[c for c in self.frame.columns if c not in shown.columns]].reset_index(drop=True)
        return pd.concat([shown, extra], axis=1)


def format_metric(mean: float | None, std: float | None, n: int) -> str:
    """``"82.00 ± 2.00 (n=3)"``: a metric in [0, 1] shown in percent with two decimals.

    The std is the sample standard deviation over seeds (``ddof=1``); with one seed it is left out:
    ``"82.00 (n=1)"``.
    """
    return format_mean_std(mean, std, n)


def _isnan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _value(x):
    return None if x is None or _isnan(x) else x


def _row_order(sub) -> list[str]:
    """Variants with the baseline first, then by name in natural order (``n=500`` before ``n=1000``)."""
    variants = list(dict.fromkeys(sub["variant"]))

    def key(v: str):
        parts = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", v)]
        return (v.split(" · ")[0] != BASELINE, parts)

    return sorted(variants, key=key)


def _ordered(sub):
    """The groups of ``sub`` in display order: variants (baseline first), then backbone."""
    rank = {v: i for i, v in enumerate(_row_order(sub))}
    return sub.assign(_rank=sub["variant"].map(rank)).sort_values(["_rank", "backbone"], kind="stable")


def row_settings(sub) -> tuple[list[tuple[str, str]], dict[Any, str]]:
    """The settings the groups of ``sub`` share, and each group's own (by index), as text.

    Returns:
        ``(shared, own)``: ``shared`` as ``(key, value)`` pairs; ``own[index]`` as
        ``"method.batch_size=512 · backbone.heads=8"`` (``"—"`` when the row has none of its own).
    """
    rows = []
    for c, d in zip(sub["config"], sub["device"]):
        s = settings_of(c, d)
        rows.append({k: v for k, v in s.items() if k not in _COLUMN_SETTINGS})
    shared, own = split_settings(rows)
    return list(shared.items()), {i: format_settings(o, empty="—") for i, o in zip(sub.index, own)}


def _epochs(row) -> str:
    asked = ((row["config"] or {}).get("train") or {}).get("epochs")
    ran = row["epochs_mean"]
    if ran is not None and not _isnan(ran) and asked is not None and round(ran) != asked:
        return f"{ran:.0f} of {asked}"  # early stopping or an interrupted trial
    return str(asked) if asked is not None else "—"


def _head_cells(row) -> list[Cell]:
    return [Cell(row["variant"], kind="label"), Cell(row["backbone"], kind="label"),
            Cell(_epochs(row), kind="setting"), Cell(batch_setting(row["config"]), kind="setting")]


_HEAD = ["method", "backbone", "epochs", "batch"]


def _head_record(dataset: str, row) -> dict[str, Any]:
    return {"dataset": dataset, "method": row["method"], "variant": row["variant"], "backbone": row["backbone"],
            "config_hash": row["config_hash"], "status": row["status"], "n_completed": row["n_completed"],
            "epochs": _epochs(row), "batch": batch_setting(row["config"])}


def _status_text(row) -> str:
    label = _STATUS_TEXT.get(row["status"], str(row["status"]))
    k = {"oom": row["n_oom"], "failed": row["n_failed"]}.get(row["status"], row["n_trials"])
    return f"{label} ({k}/{row['n_trials']})" if row["n_trials"] > 1 else label


def _status_cell(row) -> Cell:
    if row["status"] == "completed":
        text = format_metric(row["test_mean"], row["test_std"], row["n_completed"])
        lost = [f"{row['n_oom']} OOM" if row["n_oom"] else "", f"{row['n_failed']} failed" if row["n_failed"] else ""]
        lost = [x for x in lost if x]
        if lost:
            text = text[:-1] + "; " + ", ".join(lost) + ")"
        return Cell(text)
    return Cell(_status_text(row), kind=row["status"] if row["status"] in _STATUS_TEXT else "failed")


def baseline_group(sub, backbone: str, dataset_config: dict | None = None):
    """The full_graph group for ``backbone`` on the same graph (same ``dataset_config``, e.g. the same
    synthetic size) when there is one, else on any; most completed seeds, then the latest started."""
    cand = sub[(sub["method"] == BASELINE) & (sub["backbone"] == backbone) & (sub["status"] == "completed")]
    same = [json.dumps((c or {}).get("dataset_config"), sort_keys=True) == json.dumps(dataset_config, sort_keys=True)
            for c in cand["config"]]
    if any(same):
        cand = cand[same]
    if cand.empty:
        return None
    return cand.sort_values(["n_completed", "last_started_at"]).iloc[-1]


def _base_for(sub, row):
    return baseline_group(sub, row["backbone"], (row["config"] or {}).get("dataset_config"))


def _best_means(sub) -> dict[str, float]:
    done = sub[(sub["status"] == "completed") & sub["test_mean"].notna()]
    return done.groupby("backbone")["test_mean"].max().to_dict()


def performance_table(agg, dataset: str) -> Table:
    """Test metric per group on ``dataset``: settings, ``mean ± std (n)``, difference from full_graph.

    Args:
        agg: the frame of :func:`gnnbench.reports.aggregate.aggregate`.
        dataset: which dataset's groups to show.

    Returns:
        a :class:`Table` with columns ``method, backbone, epochs, batch, settings, test <metric> (%),
        Δ vs full_graph, val <metric> (%)``; the test cell is ``"mean ± std (n=seeds)"`` in percent
        (``"…; 1 OOM)"`` when some seeds did not complete, ``"OOM"`` / ``"failed"`` when none did),
        the best mean of each backbone marked; the Δ cell is ``"+1.20 pp (p=0.03)"`` or
        ``"… (p=0.4, n.s.)"`` (kind ``ns``).  The frame has the numbers (``test_mean, test_std`` in
        [0, 1], ``diff, p_value, significant``) and the shown settings.
    """
    sub = _ordered(agg[agg["dataset"] == dataset])
    metric = next((m for m in sub["metric"] if m), "metric")
    best = _best_means(sub)
    shared, own = row_settings(sub)
    rows, records = [], []
    for i, row in sub.iterrows():
        test = _status_cell(row)
        is_best = (test.kind == "value" and row["backbone"] in best
                   and math.isclose(row["test_mean"], best[row["backbone"]], rel_tol=0, abs_tol=1e-12))
        base = _base_for(sub, row)
        comparison = None
        if row["status"] != "completed":
            diff = Cell("—", kind="empty")
        elif row["method"] == BASELINE and base is not None and base["config_hash"] == row["config_hash"]:
            diff = Cell("baseline")
        elif base is None:
            diff = Cell("—", kind="empty")
        else:
            comparison = welch(row["test_metric_values"], base["test_metric_values"])
            diff = Cell(comparison.text(), kind="ns" if comparison.significant is not True else "value")
        val = (format_metric(row["val_mean"], row["val_std"], row["n_completed"])
               if row["status"] == "completed" else "—")
        rows.append([*_head_cells(row), Cell(own[i], kind="settings"), Cell(test.text, best=is_best, kind=test.kind),
                     diff, Cell(val, kind="value" if val != "—" else "empty")])
        records.append({**_head_record(dataset, row), "settings": own[i], "metric": row["metric"],
                        "n_trials": row["n_trials"], "n_oom": row["n_oom"], "n_failed": row["n_failed"],
                        "seeds": " ".join(map(str, row["seeds"])), "test_mean": row["test_mean"],
                        "test_std": row["test_std"], "val_mean": row["val_mean"], "val_std": row["val_std"],
                        "best": is_best, "test": test.text, "diff_vs_baseline": None if comparison is None else comparison.diff,
                        "p_value": None if comparison is None else comparison.p,
                        "significant": None if comparison is None else comparison.significant, "diff": diff.text})
    import pandas as pd

    notes = [f"test {metric} in %, mean ± sample std over seeds (n = completed seeds); the best mean of each "
             f"backbone in bold; OOM / failed: no seed completed.",
             f"Δ: difference of means from {BASELINE} with the same backbone, in percentage points, with the "
             f"two-sided p-value of Welch's t-test over seeds; n.s. = p ≥ 0.05 (not shown to differ; with 3 "
             f"seeds a side the test detects only large differences); untested: fewer than 2 seeds on a side, "
             f"or no spread on either."]
    return Table(title=f"{dataset}: test {metric} (%)", name=f"performance_{dataset}",
                 header=[*_HEAD, "settings", f"test {metric} (%)", f"Δ vs {BASELINE}", f"val {metric} (%)"],
                 rows=rows, notes=notes + variant_notes(sub), frame=pd.DataFrame(records), settings=shared)


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


#: (header, aggregate column of per-seed values, ratio shown) of the time table
_TIMES = [
    ("epoch (s)", "epoch_time_s", True),
    ("sampling / epoch (s)", "epoch_sample_s", True),
    ("compute / epoch (s)", "epoch_compute_s", True),
    ("inference (s)", "inference_time_s", True),
    ("preprocess (s)", "preprocess_time_s", True),
]


def _fmt_seconds(x: float) -> str:
    return f"{x:.3g}" if x >= 1e-3 else f"{x:.1e}"


def time_table(agg, dataset: str) -> Table:
    """Times per group on ``dataset``: median [first–third quartile] over seeds, seconds.

    A cell reads ``"0.094 [0.091–0.102] (1.35×)"``; the ratio of medians to ``full_graph`` with the
    same backbone appears only where both medians are at least :data:`.stats.RATIO_MIN_S`.
    Epoch = sampling + transfer + compute, validation excluded.
    """
    sub = _ordered(agg[agg["dataset"] == dataset])
    shared, own = row_settings(sub)
    rows, records = [], []
    for i, row in sub.iterrows():
        base = _base_for(sub, row)
        is_base = base is not None and base["config_hash"] == row["config_hash"]  # its ratio is 1 by definition
        cells, record = _head_cells(row), _head_record(dataset, row)
        for header, col, with_ratio in _TIMES:
            med, q1, q3 = (row[f"{col}_median"], row[f"{col}_q1"], row[f"{col}_q3"])
            med = _value(med) if row["status"] == "completed" else None
            r = ratio(med, None if base is None else _value(base[f"{col}_median"]), RATIO_MIN_S) if with_ratio else None
            record.update({f"{col}_median": med, f"{col}_q1": _value(q1), f"{col}_q3": _value(q3), f"{col}_ratio": r})
            if row["status"] != "completed":
                cells.append(Cell(_STATUS_TEXT.get(row["status"], row["status"]), kind=row["status"]))
                continue
            small = med is not None and 0 < med < 1e-3
            text = format_median_iqr(med, q1, q3, "{:.1e}" if small else "{:.3g}", "{:.1e}" if small else "{:.2g}")
            text = re.sub(r"e-0(\d)", r"e-\1", text)  # 3.4e-4, not 3.4e-04
            if r is not None and not is_base:
                text += f" ({r:.2f}×)"
            cells.append(Cell(text, kind="value" if med is not None else "empty"))
        rows.append(cells)
        records.append(record)
    import pandas as pd

    notes = [f"seconds, median [interquartile range] over completed seeds; (×) = ratio of medians to {BASELINE} "
             f"with the same backbone (not shown on its own rows), shown only where both are ≥ {RATIO_MIN_S * 1e3:g} ms (shorter spans are "
             f"timer and scheduler noise); epoch = sampling + transfer + compute, validation excluded."]
    return Table(title=f"{dataset}: time", name=f"time_{dataset}", header=[*_HEAD, *(h for h, *_ in _TIMES)],
                 rows=rows, notes=notes, frame=pd.DataFrame(records), settings=shared, nowrap=True)


def _memory_columns(sub, memory: str) -> list[tuple[str, str]]:
    """``(header, column)`` of the memory figures that some group of ``sub`` measured."""
    cols = []
    for kind, label in (("cpu", "CPU"), ("gpu", "GPU")):
        for phase in PHASES:
            col = f"{phase}_{kind}_bytes"
            if col in sub and sub[col].notna().any():
                cols.append((f"{phase} {label} (MiB)", col))
    if memory == "rss" or not cols:
        cols.append(("peak RSS (MiB)", "peak_cpu_rss_bytes"))
    if sub["peak_gpu_allocated_bytes"].notna().any() and not any(c.endswith("_gpu_bytes") for _, c in cols):
        cols.append(("peak GPU (MiB)", "peak_gpu_allocated_bytes"))
    return cols


def _fmt_bytes(x: float) -> str:
    """Bytes as ``"3.2 MiB"`` / ``"41 KiB"`` / ``"512 B"``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(x) >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.0f} B"


def _facts(extra: dict[str, float]) -> str:
    """The method's own numeric facts, ``"codebook_bytes=1.2 MiB · num_codewords=256"``."""
    return " · ".join(f"{k}={_fmt_bytes(v) if k.endswith('_bytes') else f'{v:g}'}" for k, v in sorted(extra.items()))


def _count(x) -> str:
    return "—" if _value(x) is None else f"{x:,.0f}"


def memory_table(agg, dataset: str, memory: str = "working") -> Table:
    """Memory, parameters and batch figures per group on ``dataset``.

    Memory columns are each phase's working memory (``load``, ``preprocess``, ``train``,
    ``inference``; CPU, and GPU where measured), mean over seeds in MiB, the training column with
    its ratio to ``full_graph`` (where both are ≥ 1 MiB); ``memory="rss"`` adds the process's peak
    RSS, which is also shown when no trial stored working-memory figures.  Then parameters, nodes
    and messages per batch (mean), batches per epoch, and the method's numeric ``extra`` facts.

    Raises:
        ValueError: ``memory`` is not one of :data:`MEMORY_CHOICES`.
    """
    if memory not in MEMORY_CHOICES:
        raise ValueError(f"memory={memory!r}: expected one of {', '.join(MEMORY_CHOICES)}")
    sub = _ordered(agg[agg["dataset"] == dataset])
    shared, own = row_settings(sub)
    cols = _memory_columns(sub, memory)
    ratio_col = next((c for _, c in cols if c.startswith("train_")), cols[0][1])
    rows, records = [], []
    for i, row in sub.iterrows():
        base = _base_for(sub, row)
        cells, record = _head_cells(row), _head_record(dataset, row)
        done = row["status"] == "completed"
        for header, col in cols:
            value = _value(row[col]) if done else None
            record[col] = value
            if not done:
                cells.append(Cell(_STATUS_TEXT.get(row["status"], row["status"]), kind=row["status"]))
                continue
            if value is None:
                cells.append(Cell("—", kind="empty"))
                continue
            text = f"{value / MIB:.1f}"
            if col == ratio_col:
                r = ratio(value, None if base is None else _value(base[col]), RATIO_MIN_BYTES)
                record[f"{col}_ratio"] = r
                is_base = base is not None and base["config_hash"] == row["config_hash"]
                text += f" ({r:.2f}×)" if r is not None and not is_base else ""
            cells.append(Cell(text))
        batches = _value(row["num_batches"])
        epochs = _value(row["epochs_mean"])
        per_epoch = batches / epochs if batches is not None and epochs else None
        options = (row["config"] or {}).get("method_config") or {}
        own_facts = {k: v for k, v in (row["extra"] or {}).items() if options.get(k) != v}  # not a setting again
        facts = _facts(own_facts) if done else ""
        figures = [("parameters", _count(row["num_parameters"]) if done else "—"),
                   ("nodes / batch", _count(row["nodes_per_batch_mean"]) if done else "—"),
                   ("messages / batch", _count(row["messages_per_batch_mean"]) if done else "—"),
                   ("batches / epoch", (f"{per_epoch:.3g}" if per_epoch is not None else "—") if done else "—"),
                   ("method facts", facts or "—")]
        cells += [Cell(t, kind="value" if t != "—" else "empty") for _, t in figures]
        record.update({"num_parameters": row["num_parameters"], "nodes_per_batch_mean": row["nodes_per_batch_mean"],
                       "nodes_per_batch_max": row["nodes_per_batch_max"],
                       "messages_per_batch_mean": row["messages_per_batch_mean"],
                       "messages_per_batch_max": row["messages_per_batch_max"], "num_batches": row["num_batches"],
                       "batches_per_epoch": per_epoch, "method_facts": facts,
                       **{f"extra.{k}": v for k, v in (row["extra"] or {}).items()},
                       "memory_note": row["memory_note"]})
        rows.append(cells)
        records.append(record)
    import pandas as pd

    working = any(c != "peak_cpu_rss_bytes" and c != "peak_gpu_allocated_bytes" for _, c in cols)
    notes = [("MiB, mean over completed seeds; working memory = the phase's peak minus what was in use at its "
              "start (load: dataset loading; preprocess: the method's setup; train: all epochs, validation passes left out; inference: the final "
              f"predict); (×) = ratio to {BASELINE} with the same backbone where both are ≥ 1 MiB."
              if working else
              "no trial in this table stored per-phase working memory (trials run before it was measured): the "
              "process's peak RSS is shown, which includes the Python and torch runtime (about 0.4 GiB)."),
             "nodes / messages per batch: mean over training batches (messages: edges of the sampled computation "
             "graph); parameters: trainable; method facts: what the method reports about itself (extra; facts that repeat "
             "one of its settings are left out)."]
    if memory == "rss" and working:
        notes.append("peak RSS: the trial process's peak resident set size, Python and torch runtime included.")
    if any(row["memory_note"] for _, row in sub.iterrows()):
        notes += sorted({f"{row['variant']} / {row['backbone']}: {row['memory_note']}"
                         for _, row in sub.iterrows() if row["memory_note"]})
    header = [*_HEAD, *(h for h, _ in cols), "parameters", "nodes / batch", "messages / batch", "batches / epoch",
              "method facts"]
    return Table(title=f"{dataset}: memory and batches", name=f"memory_{dataset}", header=header, rows=rows,
                 notes=notes, frame=pd.DataFrame(records), settings=shared, nowrap=True)


def resources_table(agg, dataset: str, memory: str = "working") -> list[Table]:
    """The resources of ``dataset``'s groups: :func:`time_table` and :func:`memory_table`."""
    return [time_table(agg, dataset), memory_table(agg, dataset, memory)]
