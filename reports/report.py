"""Build a comparison report from the results store and write it: Markdown, HTML, figures, CSV.

Layout of ``--out DIR``::

    DIR/report.md              the tables, and links to the PNG figures
    DIR/report.html            one self-contained file (figures embedded, every string escaped)
    DIR/figures/*.png, *.svg   convergence_<dataset>, tradeoff_<dataset>, scaling
    DIR/csv/*.csv              performance, resources, convergence, tradeoff, scaling
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gnnbench.errors import ConfigError

from .aggregate import Filters, aggregate, load_trials
from .tables import Table, performance_table, resources_table

__all__ = ["Report", "Section", "FigureOut", "build_report", "write_report", "slug"]


@dataclass
class FigureOut:
    """A figure of the report: its caption, PNG bytes (for the HTML) and files written (relative paths)."""

    name: str
    caption: str
    png: bytes | None = None
    files: list[str] = field(default_factory=list)


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Everything a renderer needs; ``csv`` maps a file stem to its DataFrame."""

    source: str
    generated_at: str
    num_trials: int
    filters: list[tuple[str, str]]
    sections: list[Section]
    csv: dict[str, Any] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def slug(name: str) -> str:
    """A file-name-safe form of ``name``; names that needed changing get 6 hex digits of their hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"
    return safe if safe == name else f"{safe[:40]}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def _safe_source(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - shown for information only
        return url


def build_report(store, filters: Filters, out: Path | None = None) -> Report:
    """Aggregate the matching trials and build the report's tables (and figures when ``out`` is given).

    Args:
        store: a :class:`gnnbench.store.Store`.
        filters: which trials to cover.
        out: folder to write figures and CSV into (see the module docstring); ``None`` builds the
            tables only.

    Raises:
        ConfigError: no trial matches, or ``out`` exists and is not a folder.
    """
    import pandas as pd

    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' exists and is not a folder; pass a folder path (it is created)")
    trials = load_trials(store, filters)
    agg = aggregate(trials)
    report = Report(source=_safe_source(store.url), num_trials=len(trials), filters=filters.describe(),
                    generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), sections=[])
    perf, res, conv, trade = [], [], [], []
    for dataset in sorted(set(agg["dataset"])):
        section = Section(title=f"dataset {dataset}")
        pt, rt = performance_table(agg, dataset), resources_table(agg, dataset)
        section.tables += [pt, rt]
        perf.append(pt.frame)
        res.append(rt.frame)
        if out is not None:
            conv.append(_add_figure(section, out, f"convergence_{slug(dataset)}", _convergence, agg, dataset,
                                    f"{dataset}: validation metric against cumulative training time"))
            trade.append(_add_figure(section, out, f"tradeoff_{slug(dataset)}", _tradeoff, agg, dataset,
                                     f"{dataset}: test metric against peak memory"))
        report.sections.append(section)
    if out is not None:
        scaling = Section(title="scaling with graph size")
        frame = _add_figure(scaling, out, "scaling", _scaling, agg, None,
                            "epoch time and peak memory against graph size (nodes as loaded)",
                            empty_note="no configuration completed on graphs of two sizes in this selection; run e.g. "
                            "'gnnbench run -m full_graph -b gcn -d synthetic --set dataset.num_nodes=1000' "
                            "for several sizes and report without --dataset (or with --dataset synthetic)")
        report.sections.append(scaling)
        report.csv = {"performance": pd.concat(perf, ignore_index=True),
                      "resources": pd.concat(res, ignore_index=True),
                      "convergence": _concat(conv), "tradeoff": _concat(trade), "scaling": _concat([frame])}
    else:
        report.csv = {"performance": pd.concat(perf, ignore_index=True),
                      "resources": pd.concat(res, ignore_index=True)}
    return report


def _concat(frames):
    import pandas as pd

    frames = [f for f in frames if f is not None and not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _convergence(agg, dataset):
    from .figures import convergence_figure

    return convergence_figure(agg, dataset)


def _tradeoff(agg, dataset):
    from .figures import tradeoff_figure

    return tradeoff_figure(agg, dataset)


def _scaling(agg, _dataset):
    from .figures import scaling_figure

    return scaling_figure(agg)


def _add_figure(section: Section, out: Path, stem: str, draw, agg, dataset, caption: str,
                empty_note: str | None = None):
    """Draw one figure, save its PNG and SVG under ``out/figures`` and attach it to ``section``."""
    from .figures import save_figure

    fig, frame = draw(agg, dataset)
    if fig is None:
        section.notes.append(empty_note or f"{caption}: nothing to draw (no completed trial with the figures it needs)")
        return frame
    paths = save_figure(fig, out / "figures", stem)
    section.figures.append(FigureOut(name=stem, caption=caption, png=paths[0].read_bytes(),
                                     files=[p.relative_to(out).as_posix() for p in paths]))
    return frame


def write_report(report: Report, out: Path) -> list[Path]:
    """Write ``report.md``, ``report.html`` and ``csv/*.csv`` into ``out`` (figures are already there)."""
    from . import html, markdown

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md", out / "report.html"]
    written[0].write_text(markdown.render_report(report), encoding="utf-8")
    written[1].write_text(html.render_report(report), encoding="utf-8")
    (out / "csv").mkdir(exist_ok=True)
    for stem, frame in report.csv.items():
        if frame is None or frame.empty:
            continue
        path = out / "csv" / f"{stem}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    for section in report.sections:
        written.extend(out / f for fig in section.figures for f in fig.files)
    report.written = written
    return written
