"""VQ-GNN against full-graph training of the same backbone, from stored trials: the fidelity table.

Not a test: ``python benchmarks/fidelity_table.py --db fidelity.db [--db more.db ...]`` after the
sweeps ``examples/sweep_vqgnn_random*.toml`` and ``examples/sweep_vqgnn_full_graph_reference.toml``,
or ``examples/sweep_vqgnn_infer_assign.toml`` and ``examples/sweep_vqgnn_full_graph_eval5.toml``
(issue 16, item 5).  It prints one markdown row per (dataset, backbone, training options, vqgnn
batching, whitening, inference assignments):

* the mean test metric over the completed seeds of each method (the trials' own
  ``test_metric``: accuracy at the best validation epoch), the difference in points and whether
  it is within ``--margin`` points (default 1) of full-graph training;
* VQ-GNN's per-seed figures, the fraction of inference messages that went through codewords
  (``extra.codeword_message_fraction``) and each layer's relative VQ error
  ``ε = ‖X − X̃_R‖_F / ‖X‖_F`` of its last epoch (``extra.vq_relative_error``), means over the seeds.

Trials are paired by dataset (a synthetic dataset by its ``preset``), backbone, backbone options
and training options (epochs, validation interval, optimiser, ...); a vqgnn trial from before
``infer_assign`` existed counts as ``"stored"``, which it ran; where several full-graph trials match
a seed, the newest completed one is taken.
"""
from __future__ import annotations

import argparse
import json
from statistics import mean


def _config(row: dict) -> dict:
    cfg = row.get("config") or {}
    return json.loads(cfg) if isinstance(cfg, str) else cfg


def dataset_label(row: dict) -> str:
    """``cora``; a synthetic dataset by its preset (``synthetic:arxiv-hard``)."""
    preset = (_config(row).get("dataset_config") or {}).get("preset")
    return f"{row['dataset']}:{preset}" if preset else row["dataset"]


def pair_key(row: dict) -> tuple:
    """What a VQ-GNN trial and its full-graph reference share: dataset, backbone and its options, the
    epochs, and the rest of the training options (learning rate, validation interval, ...)."""
    cfg = _config(row)
    train = dict(cfg.get("train") or {})
    return (dataset_label(row), row["backbone"], json.dumps(cfg.get("backbone_config") or {}, sort_keys=True),
            train.pop("epochs", None), json.dumps(train, sort_keys=True))


def rows_of_table(trials: list[dict], margin: float = 1.0) -> list[dict]:
    """The table's rows (dicts) from stored trials (``Store.trials()``), ordered as they are first seen.

    Raises nothing for a missing reference: its cells are ``None``.
    """
    done = [t for t in trials if t["status"] == "completed" and t.get("test_metric") is not None]
    reference: dict[tuple, dict[int, float]] = {}
    for t in done:
        if t["method"] == "full_graph":
            reference.setdefault(pair_key(t), {})[t["seed"]] = t["test_metric"]  # newest wins
    groups: dict[tuple, list[dict]] = {}
    for t in done:
        if t["method"] != "vqgnn":
            continue
        mc = _config(t).get("method_config") or {}
        key = pair_key(t) + (mc.get("batching", "cluster"), mc.get("whitening", True),
                             mc.get("infer_assign", "stored"))  # trials from before the option: stored
        groups.setdefault(key, []).append(t)
    out = []
    for key, ts in groups.items():
        by_seed = {t["seed"]: t for t in ts}  # newest per seed
        seeds = sorted(by_seed)
        vq = mean(by_seed[s]["test_metric"] for s in seeds)
        ref_seeds = reference.get(key[:5], {})
        ref = mean(ref_seeds.values()) if ref_seeds else None
        extras = [by_seed[s].get("extra") or {} for s in seeds]
        eps = [e["vq_relative_error"] for e in extras if e.get("vq_relative_error")]
        frac = [e["codeword_message_fraction"] for e in extras if e.get("codeword_message_fraction") is not None]
        diff = None if ref is None else 100 * (vq - ref)
        out.append({
            "dataset": key[0], "backbone": key[1], "epochs": key[3], "batching": key[5], "whitening": key[6],
            "infer_assign": key[7], "eval_every": json.loads(key[4]).get("eval_every", 1),
            "full_graph": ref, "full_graph_seeds": len(ref_seeds), "vqgnn": vq,
            "vqgnn_per_seed": [round(by_seed[s]["test_metric"], 4) for s in seeds],
            "diff_points": diff, "within_margin": None if diff is None else diff >= -margin - 1e-9,
            "codeword_message_fraction": mean(frac) if frac else None,
            "vq_relative_error": [round(mean(layer), 3) for layer in zip(*eps)] if eps else None,
        })
    return out


def markdown(rows: list[dict], margin: float) -> str:
    """The rows as a markdown table."""
    head = ("| dataset | backbone | epochs (validation every) | batching | whitening | inference assignments "
            f"| full_graph | vqgnn | Δ (points) | within {margin:g} point | vqgnn per seed | codeword messages "
            "| ε per layer |")
    lines = [head, "|" + " --- |" * 13]

    def f(v, fmt):
        return "—" if v is None else format(v, fmt)

    for r in rows:
        ok = {None: "—", True: "yes", False: "no"}[r["within_margin"]]
        lines.append(
            f"| {r['dataset']} | {r['backbone']} | {r['epochs']} ({r['eval_every']}) | {r['batching']} "
            f"| {r['whitening']} | {r['infer_assign']} "
            f"| {f(r['full_graph'], '.4f')} | {f(r['vqgnn'], '.4f')} | {f(r['diff_points'], '+.2f')} | {ok} "
            f"| {' '.join(format(v, '.3f') for v in r['vqgnn_per_seed'])} "
            f"| {f(r['codeword_message_fraction'], '.2f')} "
            f"| {' / '.join(format(v, '.3f') for v in r['vq_relative_error'] or []) or '—'} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", action="append", required=True, help="results database(s), a path or SQLAlchemy URL")
    p.add_argument("--margin", type=float, default=1.0, help="allowed shortfall in points (default 1)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead")
    args = p.parse_args()
    from gnnbench.store import Store, resolve_url

    trials = [t for db in args.db for t in Store(resolve_url(db)).trials()]
    rows = rows_of_table(trials, args.margin)
    print(json.dumps(rows, indent=2) if args.json else markdown(rows, args.margin))


if __name__ == "__main__":
    main()
