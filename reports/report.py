"""Build a comparison report from the results store and write it: Markdown, HTML, figures, CSV.

Layout of ``--out DIR``::

    DIR/report.md                  the environment, the tables, and links to the PNG figures
    DIR/report.html                one self-contained file (figures embedded, every string escaped)
    DIR/report.tex                 the tables as a standalone LaTeX document (booktabs)
    DIR/figures/*.png, *.svg, *.pdf convergence_<dataset>, tradeoff_<dataset>, scaling (PNG at 300 dpi)
    DIR/csv/*.csv                  one per table (performance_<dataset>, time_<dataset>, memory_<dataset>,
                                   table3_<dataset>, table4) with every column shown, and the points of
                                   each figure (convergence, tradeoff, scaling)
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
from .settings import database_location, environment_block
from .tables import MEMORY_CHOICES, Table, performance_table, resources_table

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
    environment: list[tuple[str, str]] = field(default_factory=list)
    view: str = "full"
    figure_points: dict[str, Any] = field(default_factory=dict)

    @property
    def tables(self) -> list[Table]:
        """Every table of the report, in order."""
        return [t for s in self.sections for t in s.tables]


def slug(name: str) -> str:
    """A file-name-safe form of ``name``; names that needed changing get 6 hex digits of their hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"
    return safe if safe == name else f"{safe[:40]}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def build_report(store, filters: Filters, out: Path | None = None, *, view: str = "full",
                 memory: str = "working") -> Report:
    """Aggregate the matching trials and build the report's tables (and figures when ``out`` is given).

    Args:
        store: a :class:`gnnbench.store.Store`.
        filters: which trials to cover.
        out: folder to write figures and CSV into (see the module docstring); ``None`` builds the
            tables only.
        view: ``"full"`` (every section), ``"table3"`` or ``"table4"`` (:mod:`.views`: the layouts
            of the VQ-GNN paper's tables, without figures).
        memory: ``"working"`` (per-phase working memory, default) or ``"rss"`` (the process's peak
            RSS, also shown in the memory table).

    Raises:
        ConfigError: no trial matches, a view has nothing to show, ``view`` / ``memory`` is not a
            choice, or ``out`` exists and is not a folder.
    """
    from .views import VIEWS, table3, table4

    if view not in VIEWS:
        raise ConfigError(f"--view '{view}' is not a view; choices: {', '.join(VIEWS)}")
    if memory not in MEMORY_CHOICES:
        raise ConfigError(f"--memory '{memory}' is not a choice; choices: {', '.join(MEMORY_CHOICES)}")
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' exists and is not a folder; pass a folder path (it is created)")
    trials = load_trials(store, filters)
    agg = aggregate(trials)
    report = Report(source=database_location(store.url), num_trials=len(trials), filters=filters.describe(),
                    generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), sections=[],
                    environment=environment_block(agg, store.url), view=view)
    if view == "table3":
        report.sections.append(Section(title="Table 3 layout: memory at a fixed batch budget", tables=table3(agg, memory)))
    elif view == "table4":
        report.sections.append(Section(title="Table 4 layout: performance", tables=[table4(agg)]))
    else:
        _full_sections(report, agg, out, memory)
    report.csv = {t.name: t.csv_frame() for s in report.sections for t in s.tables}
    report.csv.update(report.figure_points)
    return report


def _full_sections(report: Report, agg, out: Path | None, memory: str) -> None:
    """Per dataset: performance, time and memory tables, convergence and trade-off figures; then scaling."""
    conv, trade = [], []
    for dataset in sorted(set(agg["dataset"])):
        section = Section(title=f"dataset {dataset}")
        section.tables += [performance_table(agg, dataset), *resources_table(agg, dataset, memory)]
        if out is not None:
            conv.append(_add_figure(section, out, f"convergence_{slug(dataset)}", _convergence, agg, dataset,
                                    f"{dataset}: validation metric against epochs and against cumulative training "
                                    f"time, band: ± one std over seeds"))
            trade.append(_add_figure(section, out, f"tradeoff_{slug(dataset)}", _tradeoff(memory), agg, dataset,
                                     f"{dataset}: test metric against memory (error bars: ± one std over seeds)"))
        report.sections.append(section)
    if out is None:
        return
    report.figure_points = {"convergence": _concat(conv), "tradeoff": _concat(trade)}
    scaling = Section(title="scaling with graph size")
    frame = _add_figure(scaling, out, "scaling", _scaling(memory), agg, None,
                        "training working memory, epoch time and inference time against the number of nodes "
                        "(× at the top: out of memory)")
    if scaling.figures:  # a section without data is left out
        report.sections.append(scaling)
        report.figure_points["scaling"] = _concat([frame])
    report.figure_points = {k: v for k, v in report.figure_points.items() if not v.empty}


def _concat(frames):
    import pandas as pd

    frames = [f for f in frames if f is not None and not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _convergence(agg, dataset):
    from .figures import convergence_figure

    return convergence_figure(agg, dataset)


def _tradeoff(memory):
    def draw(agg, dataset):
        from .figures import tradeoff_figure

        return tradeoff_figure(agg, dataset, memory)

    return draw


def _scaling(memory):
    def draw(agg, _dataset):
        from .figures import scaling_figure

        return scaling_figure(agg, memory)

    return draw


def _add_figure(section: Section, out: Path, stem: str, draw, agg, dataset, caption: str):
    """Draw one figure, save its PNG, SVG and PDF under ``out/figures`` and attach it to ``section``
    (a figure with nothing to draw is left out, with a note in its section)."""
    from .figures import save_figure

    fig, frame = draw(agg, dataset)
    if fig is None:
        section.notes.append(f"{caption}: nothing to draw (no completed trial with the figures it needs)")
        return frame
    paths = save_figure(fig, out / "figures", stem)
    section.figures.append(FigureOut(name=stem, caption=caption, png=paths[0].read_bytes(),
                                     files=[p.relative_to(out).as_posix() for p in paths]))
    return frame


def write_report(report: Report, out: Path) -> list[Path]:
    """Write ``report.md``, ``report.html`` and ``csv/*.csv`` into ``out`` (figures are already there)."""
    from . import html, latex, markdown

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md", out / "report.html", out / "report.tex"]
    written[0].write_text(markdown.render_report(report), encoding="utf-8")
    written[1].write_text(html.render_report(report), encoding="utf-8")
    written[2].write_text(latex.render_document(report.tables), encoding="utf-8")
    (out / "csv").mkdir(exist_ok=True)
    for stem, frame in report.csv.items():
        if frame is None or frame.empty:
            continue
        path = out / "csv" / f"{slug(stem)}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    for section in report.sections:
        written.extend(out / f for fig in section.figures for f in fig.files)
    report.written = written
    return written
