"""Published accuracies on the real Planetoid files (skipped without GNNBENCH_DATA_ROOT)."""
from __future__ import annotations

from gnnbench.config import TrialConfig
from gnnbench.runner import execute_trial


def test_gcn_on_cora_near_published(data_root, tmp_path):
    rec = execute_trial(TrialConfig(method="full_graph", backbone="gcn", dataset="cora", device="cpu"),
                        data_root, tmp_path)
    assert rec.status == "completed", rec.error
    # Kipf & Welling (2017) report 81.5%; a single seed varies by about a point
    assert rec.test_metric > 0.795
    assert rec.epochs == 200 and len(rec.curve) == 200
