"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no display).

* :func:`convergence_figure` — validation metric against cumulative training time, one line per
  method, one panel per backbone (the layout of Figure 4 of Ding et al. 2021, VQ-GNN);
* :func:`tradeoff_figure` — test metric against peak memory, one point per method and backbone;
* :func:`scaling_figure` — epoch time and peak memory against the number of nodes, from trials
  on graphs of different sizes (the stored ``num_nodes`` of each trial, any dataset).

Each returns a :class:`matplotlib.figure.Figure` (or ``None`` when there is nothing to draw) and
the points it drew as a DataFrame, for the CSV files.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .tables import MIB

__all__ = ["mean_curve", "convergence_figure", "tradeoff_figure", "scaling_figure", "save_figure",
           "memory_column", "plain"]

_MARKERS = "osD^vP*X<>"


def plain(text: object) -> str:
    """Label text shown literally by matplotlib (``$`` would start mathtext)."""
    return " ".join(str(text).splitlines()).replace("$", r"\$")


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def mean_curve(curves: list[list[dict[str, Any]]]):
    """The mean over seeds of per-epoch curves, on the epochs every seed reached and validated.

    Args:
        curves: one list of ``{"epoch", "train_time_s", "val_metric"}`` dicts per seed
            (``train_time_s``: cumulative training seconds at the epoch's end).

    Returns:
        a DataFrame with ``epoch, train_time_s, val_metric, seeds`` (empty when nothing is shared).
    """
    import pandas as pd

    frames = [pd.DataFrame(c).assign(run=i) for i, c in enumerate(curves) if c]
    if not frames:
        return pd.DataFrame(columns=["epoch", "train_time_s", "val_metric", "seeds"])
    df = pd.concat(frames, ignore_index=True)
    df = df[df["val_metric"].notna()]
    g = df.groupby("epoch").agg(train_time_s=("train_time_s", "mean"), val_metric=("val_metric", "mean"),
                                seeds=("run", "nunique")).reset_index()
    return g[g["seeds"] == len(frames)].reset_index(drop=True)


def convergence_figure(agg, dataset: str):
    """Validation metric (%) against cumulative training time (s) on ``dataset``; ``(figure, points)``."""
    import pandas as pd

    sub = agg[(agg["dataset"] == dataset) & (agg["status"] == "completed")]
    backbones = sorted(set(sub["backbone"]))
    points = []
    for _, row in sub.iterrows():
        curve = mean_curve(row["curves"])
        if len(curve):
            points.append(curve.assign(dataset=dataset, method=row["method"], variant=row["variant"],
                                       backbone=row["backbone"], config_hash=row["config_hash"]))
    if not points:
        return None, pd.DataFrame()
    data = pd.concat(points, ignore_index=True)
    fig = _new_figure(4.2 * len(backbones) + 0.8, 3.6)
    axes = fig.subplots(1, len(backbones), squeeze=False)[0]
    colours = _colours(sorted(set(data["variant"])))
    metric = next((m for m in sub["metric"] if m), "metric")
    for ax, backbone in zip(axes, backbones):
        for variant, g in data[data["backbone"] == backbone].groupby("variant", sort=True):
            ax.plot(g["train_time_s"], 100 * g["val_metric"], color=colours[variant], lw=1.4, label=plain(variant))
        ax.set_title(plain(backbone))
        ax.set_xlabel("cumulative training time (s)")
        ax.set_ylabel(f"validation {plain(metric)} (%)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(plain(f"{dataset}: convergence (mean over seeds)"))
    return fig, data[["dataset", "method", "variant", "backbone", "config_hash", "epoch", "train_time_s",
                      "val_metric", "seeds"]]


def memory_column(sub) -> tuple[str, str]:
    """``(column, label)``: GPU allocated peak when any group measured it, else CPU RSS peak."""
    gpu = sub["peak_gpu_allocated_bytes"]
    if gpu.notna().any() and (gpu.fillna(0) > 0).any():
        return "peak_gpu_allocated_bytes", "peak GPU memory allocated (MiB)"
    return "peak_cpu_rss_bytes", "peak CPU RSS (MiB)"


def tradeoff_figure(agg, dataset: str):
    """Test metric (%) against peak memory (MiB) on ``dataset``, one point per method and backbone."""
    import pandas as pd

    sub = agg[(agg["dataset"] == dataset) & (agg["status"] == "completed")]
    col, label = memory_column(sub)
    sub = sub[sub[col].notna() & sub["test_mean"].notna()]
    if sub.empty:
        return None, pd.DataFrame()
    fig = _new_figure(6.4, 4.4)
    ax = fig.subplots()
    colours = _colours(sorted(set(sub["variant"])))
    markers = {b: _MARKERS[i % len(_MARKERS)] for i, b in enumerate(sorted(set(sub["backbone"])))}
    for _, row in sub.sort_values(["variant", "backbone"]).iterrows():
        std = row["test_std"]
        ax.errorbar(row[col] / MIB, 100 * row["test_mean"],
                    yerr=None if std is None or math.isnan(std) else 100 * std,
                    fmt=markers[row["backbone"]], color=colours[row["variant"]], ms=7, capsize=3,
                    label=plain(f"{row['variant']} / {row['backbone']}"))
    metric = next((m for m in sub["metric"] if m), "metric")
    ax.set_xlabel(label)
    ax.set_ylabel(f"test {plain(metric)} (%)")
    ax.set_title(plain(f"{dataset}: accuracy against memory"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    data = sub[["dataset", "method", "variant", "backbone", "config_hash", "test_mean", "test_std", col]]
    return fig, data.rename(columns={col: "peak_memory_bytes"}).assign(memory=col).reset_index(drop=True)


def scaling_figure(agg):
    """Epoch time (s) and peak memory (MiB) against the stored graph size (nodes), log-log.

    Every completed group with a stored ``num_nodes`` (the graph as loaded, any dataset) is a point;
    one line per method, backbone and configuration-but-size (groups whose configurations differ
    only in the dataset or ``dataset_config.num_nodes`` / ``num_edges`` / ``avg_degree`` / ``preset``).
    A line needs two graph sizes at least.
    """
    import pandas as pd
    from matplotlib.ticker import NullFormatter

    sub = agg[(agg["status"] == "completed") & agg["num_nodes"].notna()]
    sizes = sub.groupby(["method", "backbone", "series"])["num_nodes"].transform("nunique")
    sub = sub[sizes > 1]  # a line needs graphs of two sizes at least
    if sub.empty:
        return None, pd.DataFrame()
    col, mem_label = memory_column(sub)
    lines = sub.groupby(["method", "backbone", "series"], sort=True)
    several = sub.groupby(["method", "backbone"])["series"].nunique()
    fig = _new_figure(10, 4)
    ax_t, ax_m = fig.subplots(1, 2)
    keys = [k for k, _ in lines]
    colours = _colours([f"{m}/{b}/{s}" for m, b, s in keys])
    data = []
    for (method, backbone, series), g in lines:
        g = g.sort_values("num_nodes")
        label = f"{method} / {backbone}" + (f" · {series[:7]}" if several[(method, backbone)] > 1 else "")
        colour = colours[f"{method}/{backbone}/{series}"]
        ax_t.plot(g["num_nodes"], g["epoch_time_s"], "o-", color=colour, label=plain(label))
        ax_m.plot(g["num_nodes"], g[col] / MIB, "o-", color=colour, label=plain(label))
        data.append(g[["dataset", "method", "backbone", "series", "config_hash", "num_nodes", "epoch_time_s",
                       "epoch_sample_s", "epoch_compute_s", col]].assign(line=label))
    for ax, ylabel in ((ax_t, "epoch time (s)"), (ax_m, mem_label)):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of short decades overlap
        ax.set_xlabel("nodes in the graph (as loaded)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    ax_t.legend(fontsize=8)
    fig.suptitle("scaling with graph size (mean over seeds)")
    frame = pd.concat(data, ignore_index=True).rename(columns={col: "peak_memory_bytes"}).assign(memory=col)
    return fig, frame


def _colours(keys: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(keys) <= 10 else "tab20"]
    return {k: cmap(i % cmap.N) for i, k in enumerate(keys)}


def save_figure(fig, folder: Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` (100 dpi) and ``<stem>.svg`` (no date, so reruns are identical)."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{stem}.png", folder / f"{stem}.svg"
    fig.savefig(png, format="png", metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return [png, svg]
