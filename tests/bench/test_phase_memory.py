"""Working memory per phase: each phase's figure is what that phase itself allocated."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from gnnbench.measure import PhaseMemory
from gnnbench.types import TrialRecord
from gnnbench.worker import child_environment

MIB = 2**20
# what the fake method allocates (and frees again) in each phase, MiB.  Validation runs `predict`
# inside the training phase; its allocation is the larger one, so the training figure is 96 only
# if the validation passes are left out of it (PhaseMemory.excluded)
SETUP_MIB, TRAIN_MIB, PREDICT_MIB = 160, 96, 192

_SCRIPT = textwrap.dedent(f"""
    import json, sys
    import torch
    from gnnbench import registry
    from gnnbench.config import TrialConfig
    from gnnbench.runner import execute_trial
    from gnnbench.testing import FakeMethod

    def scratch(mib):  # written, so that every page is resident
        return torch.ones(mib * 2**20 // 4)

    class Allocating(FakeMethod):
        def setup(self, dataset, device):
            buf = scratch({SETUP_MIB})
            super().setup(dataset, device)
            del buf

        def train_step(self, batch):
            buf = scratch({TRAIN_MIB})
            loss = super().train_step(batch)
            del buf
            return loss

        def predict(self, splits):
            buf = scratch({PREDICT_MIB})
            out = super().predict(splits)
            del buf
            return out

    load = registry.load
    registry.load = lambda kind, name: Allocating if (kind, name) == ("methods", "allocating") else load(kind, name)
    cfg = TrialConfig(method="allocating", backbone="gcn", train={{"epochs": 2}},
                      dataset_config={{"num_nodes": 200, "num_features": 8}})
    rec = execute_trial(cfg, None, sys.argv[1])
    print(json.dumps(rec.to_dict()))
""")


def _trial(tmp_path) -> dict:
    """One trial of the allocating method in a process set up as the worker sets up a trial's."""
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path)], env=child_environment(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(PhaseMemory("cpu").note is not None, reason="needs Linux's /proc/self/clear_refs")
def test_each_phase_counts_what_it_allocated(tmp_path):
    rec = _trial(tmp_path)
    assert rec["status"] == "completed", rec["error"]
    for phase, mib in (("preprocess", SETUP_MIB), ("train", TRAIN_MIB), ("inference", PREDICT_MIB)):
        assert rec[f"{phase}_cpu_bytes"] == pytest.approx(mib * MIB, rel=0.10), phase
    # loading a 200-node graph allocates next to nothing: the setup's 160 MiB is not in any later phase
    assert rec["load_cpu_bytes"] < 16 * MIB
    assert rec["memory_note"] == "no CUDA device: GPU working memory is not measured"
    assert rec["train_gpu_bytes"] is None


def test_excluded_keeps_the_largest_part_outside_it():
    import torch

    memory = PhaseMemory("cpu")
    if not memory.cpu_ok:
        pytest.skip(memory.note)
    with memory.phase("train"):
        a = torch.ones(64 * MIB // 4)
        del a
        with memory.excluded():
            b = torch.ones(128 * MIB // 4)
            del b
        c = torch.ones(32 * MIB // 4)
        del c
    assert memory.figures["train_cpu_bytes"] == pytest.approx(64 * MIB, rel=0.10)
    with memory.excluded():  # outside a phase: nothing to leave out, nothing recorded
        pass
    assert set(memory.figures) == {"train_cpu_bytes"}


def test_without_proc_the_figures_are_null_with_the_reason(monkeypatch, tmp_path):
    from gnnbench import measure

    monkeypatch.setattr(measure, "_STATUS", tmp_path / "missing")
    memory = PhaseMemory("cpu")
    with memory.phase("train"):
        pass
    rec = TrialRecord()
    memory.store(rec)
    assert rec.train_cpu_bytes is None
    assert rec.memory_note.startswith("no /proc/self/status (not Linux)")


def test_an_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="unknown phase 'warmup'; the phases are load, preprocess, train"):
        with PhaseMemory("cpu").phase("warmup"):
            pass


def test_the_worker_sets_the_mmap_threshold(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert child_environment()["MALLOC_MMAP_THRESHOLD_"] == "65536"
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")  # a user's own setting is kept
    assert child_environment()["MALLOC_MMAP_THRESHOLD_"] == "131072"
