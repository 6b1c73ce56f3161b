"""The layouts of the VQ-GNN paper's tables as report views (``gnnbench report --view table3|table4``).

* :func:`table3` — Table 3 of Ding et al. 2021: training memory of the scaling methods when every
  method is held to one per-batch budget (``budget.nodes_per_batch`` or
  ``budget.messages_per_batch``): methods as rows, budget × backbone as columns, each cell the
  training working memory (mean over seeds, MiB) and its ratio to VQ-GNN's.
* :func:`table4` — Table 4 of Ding et al. 2021: the test metric as ``.7029 ± .0036`` (a fraction,
  mean ± sample std over seeds), methods as rows, dataset × backbone as columns, ``OOM`` where no
  seed completed for lack of memory and ``NA`` where the method does not support the backbone.

Each raises :class:`gnnbench.errors.ConfigError` (exit 2) naming what is missing and how to run it
when the selected trials hold nothing the view can show.
"""
from __future__ import annotations

import math

from gnnbench.errors import ConfigError

from .figures import memory_column
from .settings import format_settings, settings_of, split_settings
from .tables import MIB, Cell, Table

__all__ = ["VIEWS", "table3", "table4", "PAPER_NAMES"]

#: ``--view`` choices: the full report and the two paper layouts
VIEWS = ("full", "table3", "table4")
#: how the paper names the built-in methods and backbones
PAPER_NAMES = {"full_graph": "Full-Graph", "ns_sage": "NS-SAGE", "cluster_gcn": "Cluster-GCN",
               "graphsaint_rw": "GraphSAINT-RW", "vqgnn": "VQ-GNN", "gcn": "GCN", "sage": "SAGE-Mean", "gat": "GAT"}
_METHOD_ORDER = ("full_graph", "ns_sage", "cluster_gcn", "graphsaint_rw", "vqgnn")
_BACKBONE_ORDER = ("gcn", "sage", "gat")


def _order(names, preferred) -> list[str]:
    return sorted(set(names), key=lambda n: (preferred.index(n) if n in preferred else len(preferred), n))


def _name(n: str) -> str:
    return PAPER_NAMES.get(n, n)


def _budget(config) -> tuple[str, int] | None:
    budget = (config or {}).get("budget") or {}
    for key, label in (("nodes_per_batch", "nodes per batch"), ("messages_per_batch", "messages passed per batch")):
        if budget.get(key):
            return label, int(budget[key])
    return None


def _pick(groups):
    """One group per cell: the one with most completed seeds, then the latest."""
    return groups.sort_values(["n_completed", "last_started_at"]).iloc[-1]


def _ok(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _settings_column(chosen: dict) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Shared settings of the chosen groups, and per row its method's own options (``a | b`` if its cells
    differ); backbone options that are not shared differ by column and are in the full report."""
    keys = list(chosen)
    rows = [{k: v for k, v in settings_of(g["config"], g["device"]).items() if not k.startswith("budget.")}
            for g in chosen.values()]
    shared, own = split_settings(rows)
    per_row: dict[str, list[str]] = {}
    for (row_key, _), o in zip(keys, own):  # the method's own options (a backbone's differ by column)
        text = format_settings({k: v for k, v in o.items() if k.startswith("method.")}, empty="—")
        per_row.setdefault(row_key, [])
        if text not in per_row[row_key]:
            per_row[row_key].append(text)
    return list(shared.items()), {k: " | ".join(v) for k, v in per_row.items()}


def table3(agg, memory: str = "working") -> list[Table]:
    """Training working memory under a per-batch budget, per dataset (Table 3 of Ding et al. 2021).

    Raises:
        ConfigError: no selected trial was run with a budget.
    """
    budgeted = agg[[_budget(c) is not None for c in agg["config"]]]
    if budgeted.empty:
        raise ConfigError(
            f"--view table3 needs trials run with a per-batch budget (budget.nodes_per_batch or "
            f"budget.messages_per_batch, as the paper's Table 3 fixes 85K nodes or 1.5M messages); none of the "
            f"{int(agg['n_trials'].sum())} selected trial(s) has one. Run e.g. `gnnbench run -m vqgnn -b sage "
            f"-d ogbn-arxiv --set budget.messages_per_batch=1500000` (and the other methods), or choose --view full")
    tables = []
    for dataset in sorted(set(budgeted["dataset"])):
        sub = budgeted[budgeted["dataset"] == dataset]
        col, label = memory_column(sub[sub["status"] == "completed"], memory)
        sub = sub.assign(_budget=[_budget(c) for c in sub["config"]])
        columns = sorted({(b, bb) for b, bb in zip(sub["_budget"], sub["backbone"])},
                         key=lambda t: (t[0][0] != "nodes per batch", t[0][1],  # the paper's order: nodes first
                                        _BACKBONE_ORDER.index(t[1]) if t[1] in _BACKBONE_ORDER else 9, t[1]))
        methods = _order(sub["method"], _METHOD_ORDER)
        chosen = {}
        for m in methods:
            for budget, backbone in columns:
                hit = sub[(sub["method"] == m) & (sub["backbone"] == backbone) & (sub["_budget"] == budget)]
                if not hit.empty:
                    chosen[(m, (budget, backbone))] = _pick(hit)
        shared, own = _settings_column(chosen)
        vq = {key[1]: g for key, g in chosen.items() if key[0] == "vqgnn" and g["status"] == "completed"}
        rows, records = [], []
        for m in methods:
            cells = [Cell(_name(m), kind="label"), Cell(own.get(m, "—"), kind="settings")]
            for budget, backbone in columns:
                g = chosen.get((m, (budget, backbone)))
                rec = {"dataset": dataset, "method": m, "backbone": backbone, "budget": budget[0],
                       "budget_value": budget[1]}
                if g is None:
                    cells.append(Cell("—", kind="empty"))
                elif g["status"] != "completed":
                    cells.append(Cell("OOM" if g["status"] == "oom" else g["status"], kind=g["status"]))
                    rec["status"] = g["status"]
                elif not _ok(g[col]):
                    cells.append(Cell("—", kind="empty"))
                else:
                    ref = vq.get((budget, backbone))
                    r = g[col] / ref[col] if ref is not None and _ok(ref[col]) and ref[col] > 0 else None
                    text = f"{g[col] / MIB:.1f}" + (f" ({r:.2f}×)" if r is not None and m != "vqgnn" else "")
                    cells.append(Cell(f"{text} (n={g['n_completed']})"))
                    rec.update(status="completed", memory_bytes=g[col], ratio_to_vqgnn=r, n=g["n_completed"],
                               config_hash=g["config_hash"])
                records.append(rec)
            rows.append(cells)
        header = ["method", "settings", *(f"{budget[1]:,} {budget[0]} · {_name(b)}" for budget, b in columns)]
        import pandas as pd

        notes = [f"{label}, mean over completed seeds; (×) = ratio to VQ-GNN's at the same budget and backbone; "
                 f"— : not run. Layout of Table 3 of Ding et al. 2021 (ogbn-arxiv: 85K nodes or 1.5M messages per "
                 f"batch; their figures are GPU peak memory in MB)."]
        tables.append(Table(title=f"{dataset}: training memory at a fixed per-batch budget (Table 3 layout)",
                            name=f"table3_{dataset}", header=header, rows=rows, notes=notes,
                            frame=pd.DataFrame(records), settings=shared))
    return tables


def _supported(method: str, backbone: str) -> bool:
    """Whether ``method`` can drive ``backbone`` (their declared capabilities); ``True`` when unknown."""
    try:
        from gnnbench.capabilities import check_capabilities
        from gnnbench.registry import load

        check_capabilities(method, load("methods", method), backbone, load("backbones", backbone))
    except Exception as exc:  # noqa: BLE001 - an unregistered plugin: assume it is supported
        return type(exc).__name__ != "UnsupportedError"
    return True


def _fraction(mean, std) -> str:
    def f(x):
        return f"{x:.4f}".lstrip("0") if x >= 0 else f"{x:.4f}"

    return f(mean) + (f" ± {f(std)}" if _ok(std) else "")


def table4(agg) -> Table:
    """The test metric of every method (rows) per dataset and backbone (columns), Table 4's layout.

    Raises:
        ConfigError: no selected trial completed.
    """
    if not (agg["status"] == "completed").any():
        raise ConfigError(f"--view table4 needs completed trials; none of the {int(agg['n_trials'].sum())} "
                          f"selected trial(s) completed (see `gnnbench results`), or widen the filters")
    datasets = sorted(set(agg["dataset"]))
    columns = [(d, b) for d in datasets for b in _order(agg.loc[agg["dataset"] == d, "backbone"], _BACKBONE_ORDER)]
    methods = _order(agg["method"], _METHOD_ORDER)
    chosen = {}
    for m in methods:
        for d, b in columns:
            hit = agg[(agg["method"] == m) & (agg["dataset"] == d) & (agg["backbone"] == b)]
            if not hit.empty:
                chosen[(m, (d, b))] = _pick(hit)
    shared, own = _settings_column(chosen)
    rows, records = [], []
    for m in methods:
        cells = [Cell(_name(m), kind="label"), Cell(own.get(m, "—"), kind="settings")]
        for d, b in columns:
            g = chosen.get((m, (d, b)))
            rec = {"method": m, "dataset": d, "backbone": b}
            if g is None:
                cells.append(Cell("NA", kind="empty") if not _supported(m, b) else Cell("—", kind="empty"))
                rec["status"] = "NA" if cells[-1].text == "NA" else "not run"
            elif g["status"] != "completed":
                cells.append(Cell("OOM" if g["status"] == "oom" else g["status"], kind=g["status"]))
                rec["status"] = g["status"]
            else:
                cells.append(Cell(_fraction(g["test_mean"], g["test_std"])))
                rec.update(status="completed", test_mean=g["test_mean"], test_std=g["test_std"], n=g["n_completed"],
                           config_hash=g["config_hash"])
            records.append(rec)
        rows.append(cells)
    metrics = sorted({m for m in agg["metric"] if m})
    import pandas as pd

    notes = [f"test {', '.join(metrics) or 'metric'} as a fraction, mean ± sample std over seeds; OOM: no seed completed "
             f"for lack of memory; NA: the method does not support the backbone (NS-SAGE needs bipartite layers, "
             f"Table 4 note 1); — : not run. Where a cell has several configurations, the one with most seeds is "
             f"shown. Layout of Table 4 of Ding et al. 2021."]
    return Table(title="test metric by dataset and backbone (Table 4 layout)", name="table4",
                 header=["method", "settings", *(f"{d} · {_name(b)}" for d, b in columns)], rows=rows, notes=notes,
                 frame=pd.DataFrame(records), settings=shared)
