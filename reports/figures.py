"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no display).

* :func:`convergence_figure` — validation metric against epochs and against cumulative training
  time, one line per method with a band over seeds, one panel per backbone (the layout of Figure 4
  of Ding et al. 2021, VQ-GNN);
* :func:`tradeoff_figure` — test metric against training working memory (axis from zero), one
  point per method and backbone;
* :func:`scaling_figure` — training working memory, epoch time and inference time against the
  number of nodes, from trials on graphs of different sizes, out-of-memory trials marked.

Memory axes start at zero; metric axes span the data's range widened to whole tens of percent
(:func:`metric_limits`), so that a 2-point difference is not drawn across the whole axis.

Each returns a :class:`matplotlib.figure.Figure` (or ``None`` when there is nothing to draw) and
the points it drew as a DataFrame, for the CSV files.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .tables import MIB

__all__ = ["mean_curve", "convergence_figure", "tradeoff_figure", "scaling_figure", "save_figure",
           "memory_column", "plain", "metric_limits", "DPI"]

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
    """The mean and sample std over seeds of per-epoch curves, on the epochs every seed reached and validated.

    Args:
        curves: one list of ``{"epoch", "train_time_s", "val_metric"}`` dicts per seed
            (``train_time_s``: cumulative training seconds at the epoch's end).

    Returns:
        a DataFrame with ``epoch, train_time_s, val_metric, val_std, seeds`` (``val_std`` is ``NaN``
        with one seed; empty when nothing is shared).
    """
    import pandas as pd

    frames = [pd.DataFrame(c).assign(run=i) for i, c in enumerate(curves) if c]
    if not frames:
        return pd.DataFrame(columns=["epoch", "train_time_s", "val_metric", "val_std", "seeds"])
    df = pd.concat(frames, ignore_index=True)
    df = df[df["val_metric"].notna()]
    g = df.groupby("epoch").agg(train_time_s=("train_time_s", "mean"), val_metric=("val_metric", "mean"),
                                val_std=("val_metric", "std"), seeds=("run", "nunique")).reset_index()
    return g[g["seeds"] == len(frames)].reset_index(drop=True)


def metric_limits(low: float, high: float, step: float = 10.0) -> tuple[float, float]:
    """Metric-axis limits (percent) that hold ``[low, high]`` and do not magnify small differences:
    the data's range widened to whole multiples of ``step`` percentage points, within [0, 100]."""
    lo = max(0.0, step * math.floor(low / step))
    hi = min(100.0, step * math.ceil(high / step))
    if hi - lo < step:
        hi = min(100.0, lo + step)
        lo = max(0.0, hi - step)
    return lo, hi


def convergence_figure(agg, dataset: str):
    """Validation metric (%) against epochs (top row) and cumulative training time (bottom row),
    one panel per backbone, one line per method with a band of ± one sample std over seeds.

    Returns:
        ``(figure, points)``; the points have ``epoch, train_time_s, val_metric, val_std, seeds``.
    """
    import pandas as pd

    sub = agg[(agg["dataset"] == dataset) & (agg["status"] == "completed")]
    points = []
    for _, row in sub.iterrows():
        curve = mean_curve(row["curves"])
        if len(curve):
            points.append(curve.assign(dataset=dataset, method=row["method"], variant=row["variant"],
                                       backbone=row["backbone"], config_hash=row["config_hash"]))
    if not points:
        return None, pd.DataFrame()
    data = pd.concat(points, ignore_index=True)
    backbones = sorted(set(data["backbone"]))
    fig = _new_figure(4.6 * len(backbones) + 1.6, 7.2)
    axes = fig.subplots(2, len(backbones), squeeze=False)
    colours = _colours(sorted(set(data["variant"])))
    metric = next((m for m in sub["metric"] if m), "metric")
    lows, highs = [], []
    for j, backbone in enumerate(backbones):
        for variant, g in data[data["backbone"] == backbone].groupby("variant", sort=True):
            mean, std = 100 * g["val_metric"], 100 * g["val_std"].fillna(0.0)
            lows.append((mean - std).min())
            highs.append((mean + std).max())
            for ax, x in ((axes[0][j], g["epoch"]), (axes[1][j], g["train_time_s"])):
                ax.plot(x, mean, color=colours[variant], lw=1.4, label=plain(variant))
                ax.fill_between(x, mean - std, mean + std, color=colours[variant], alpha=0.18, lw=0)
        axes[0][j].set_title(plain(backbone))
        axes[0][j].set_xlabel("epoch")
        axes[1][j].set_xlabel("cumulative training time (s)")
        for ax in (axes[0][j], axes[1][j]):
            ax.set_ylabel(f"validation {plain(metric)} (%)")
            ax.grid(alpha=0.3)
            ax.set_xlim(left=0)
    lo, hi = metric_limits(min(lows), max(highs))
    for ax in axes.flat:
        ax.set_ylim(lo, hi)
    handles, labels = axes[0][0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen.keys()), loc="outside right upper", fontsize=9)
    fig.suptitle(plain(f"{dataset}: convergence (mean ± std over seeds; training time excludes validation)"))
    return fig, data[["dataset", "method", "variant", "backbone", "config_hash", "epoch", "train_time_s",
                      "val_metric", "val_std", "seeds"]]


def memory_column(sub, memory: str = "working") -> tuple[str, str]:
    """``(column, label)`` of the memory figure a plot shows.

    ``memory="working"`` (default): the training phase's working memory, GPU where any group
    measured it, else CPU; the process's peak RSS only when no group stored working memory.
    ``memory="rss"``: the process's peak RSS.
    """
    if memory == "working":
        for col, label in (("train_gpu_bytes", "training working memory, GPU (MiB)"),
                           ("train_cpu_bytes", "training working memory, CPU (MiB)")):
            if col in sub and sub[col].notna().any() and (sub[col].fillna(0) > 0).any():
                return col, label
        gpu = sub["peak_gpu_allocated_bytes"]
        if gpu.notna().any() and (gpu.fillna(0) > 0).any():
            return "peak_gpu_allocated_bytes", "peak GPU memory allocated (MiB)"
        return "peak_cpu_rss_bytes", "peak CPU RSS (MiB; no working-memory figures stored)"
    return "peak_cpu_rss_bytes", "peak CPU RSS of the trial process (MiB)"


def tradeoff_figure(agg, dataset: str, memory: str = "working"):
    """Test metric (%) against memory (MiB, from zero) on ``dataset``, one point per method and backbone,
    error bars ± one sample std over seeds."""
    import pandas as pd

    sub = agg[(agg["dataset"] == dataset) & (agg["status"] == "completed")]
    col, label = memory_column(sub, memory)
    sub = sub[sub[col].notna() & sub["test_mean"].notna()]
    if sub.empty:
        return None, pd.DataFrame()
    fig = _new_figure(7.2, 4.8)
    ax = fig.subplots()
    colours = _colours(sorted(set(sub["variant"])))
    markers = {b: _MARKERS[i % len(_MARKERS)] for i, b in enumerate(sorted(set(sub["backbone"])))}
    lows, highs = [], []
    for _, row in sub.sort_values(["variant", "backbone"]).iterrows():
        std = row["test_std"]
        err = 0.0 if std is None or math.isnan(std) else 100 * std
        lows.append(100 * row["test_mean"] - err)
        highs.append(100 * row["test_mean"] + err)
        ax.errorbar(row[col] / MIB, 100 * row["test_mean"], yerr=err or None,
                    fmt=markers[row["backbone"]], color=colours[row["variant"]], ms=7, capsize=3,
                    label=plain(f"{row['variant']} / {row['backbone']}"))
    metric = next((m for m in sub["metric"] if m), "metric")
    ax.set_xlabel(label)
    ax.set_xlim(left=0, right=1.08 * float(sub[col].max()) / MIB)
    ax.set_ylim(*metric_limits(min(lows), max(highs)))
    ax.set_ylabel(f"test {plain(metric)} (%)")
    ax.set_title(plain(f"{dataset}: accuracy against memory"))
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=8)
    data = sub[["dataset", "method", "variant", "backbone", "config_hash", "test_mean", "test_std", col]]
    return fig, data.rename(columns={col: "memory_bytes"}).assign(memory=col).reset_index(drop=True)


def _size(row) -> float | None:
    n = row["num_nodes"]
    if n is not None and not (isinstance(n, float) and math.isnan(n)):
        return float(n)
    from .aggregate import graph_size

    size = graph_size(row["config"])
    return None if size is None else float(size)


def scaling_figure(agg, memory: str = "working"):
    """Training working memory (MiB), epoch time (s) and inference time (s) against the number of
    nodes, log–log, one line per method, backbone and configuration-but-size; OOM groups marked ×.

    Every group with a graph size (stored ``num_nodes``, or ``dataset_config.num_nodes``) is a point;
    groups whose configurations differ only in the dataset or its size (:data:`.aggregate.SIZE_KEYS`)
    form a line (a configuration measured at one size is a lone point). A group none of whose seeds
    completed because of memory (``oom``) is drawn as a × in its line's colour on the panel's top
    edge at its size (several at one size stacked downwards). Both axes are logarithmic: the
    methods' figures span orders of magnitude (SGC's epoch against full-graph's), and a linear
    axis flattens all but the largest; a value of 0 (nothing measured to the clock's resolution)
    has no place on it and is left out of the panel. The figure needs a configuration on two sizes.
    """
    import pandas as pd
    from matplotlib.ticker import NullFormatter

    sub = agg.assign(_size=[_size(r) for _, r in agg.iterrows()])
    sub = sub[sub["_size"].notna() & sub["status"].isin(["completed", "oom"])]
    sizes = sub.groupby(["method", "backbone", "series"])["_size"].transform("nunique")
    if not (sizes > 1).any() or sub[sub["status"] == "completed"].empty:
        return None, pd.DataFrame()
    col, mem_label = memory_column(sub[sub["status"] == "completed"], memory)
    lines = sub.groupby(["method", "backbone", "series"], sort=True)
    several = sub.groupby(["method", "backbone"])["series"].nunique()
    fig = _new_figure(14, 4.4)
    panels = list(zip(fig.subplots(1, 3), ((col, mem_label, MIB), ("epoch_time_s_median", "epoch time (s, median)", 1),
                                           ("inference_time_s_median", "inference time (s, median)", 1))))
    keys = [k for k, _ in lines]
    colours = _colours([f"{m}/{b}/{s}" for m, b, s in keys])
    data = []
    oom_drawn: dict[float, int] = {}  # OOM markers drawn so far at each size (the same in every panel)
    for (method, backbone, series), g in lines:
        g = g.sort_values("_size")
        label = f"{method} / {backbone}" + (f" · {series[:7]}" if several[(method, backbone)] > 1 else "")
        colour = colours[f"{method}/{backbone}/{series}"]
        ok, oom = g[g["status"] == "completed"], g[g["status"] == "oom"]
        heights = [1.0 - 0.06 * oom_drawn.get(x, 0) for x in oom["_size"]]  # stacked down from the top edge
        for x in oom["_size"]:
            oom_drawn[x] = oom_drawn.get(x, 0) + 1
        for ax, (c, _, div) in panels:
            shown = ok[ok[c] > 0]  # a log axis: 0 and missing figures are left out
            ax.plot(shown["_size"], shown[c] / div, "o-", color=colour, label=plain(label))
            if len(oom):
                ax.plot(oom["_size"], heights, "x", color=colour, ms=10, mew=2.5,
                        transform=ax.get_xaxis_transform(), clip_on=False)
        data.append(g[["dataset", "method", "backbone", "series", "config_hash", "status", "_size", "epoch_time_s_median",
                       "inference_time_s_median", "epoch_sample_s", "epoch_compute_s", col]].assign(line=label))
    for ax, (_, ylabel, _) in panels:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of short decades overlap
        ax.set_xlabel("nodes in the graph (log)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    fig.legend(*panels[0][0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    oom_note = " · × on the top edge: out of memory" if (sub["status"] == "oom").any() else ""
    fig.suptitle(f"scaling with graph size (mean / median over seeds){oom_note}")
    frame = pd.concat(data, ignore_index=True).rename(columns={col: "memory_bytes", "_size": "num_nodes"})
    return fig, frame.assign(memory=col)


def _colours(keys: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(keys) <= 10 else "tab20"]
    return {k: cmap(i % cmap.N) for i, k in enumerate(keys)}


#: resolution of the PNG files (a paper's figure; the SVG and PDF are vector)
DPI = 300


def save_figure(fig, folder: Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` (:data:`DPI` dpi), ``<stem>.svg`` and ``<stem>.pdf`` (vector, no
    date, so reruns are identical); returns the paths, PNG first."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg, pdf = folder / f"{stem}.png", folder / f"{stem}.svg", folder / f"{stem}.pdf"
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None})
    fig.savefig(pdf, format="pdf", metadata={"CreationDate": None, "ModDate": None})
    return [png, svg, pdf]
