import pytest
import torch

from gnnbench.methods.sampling import partition, parts_to_nodes
from gnnbench.methods.sampling import partition as partition_mod  # noqa: F401


def _graph(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, 600), generator=g)
    return torch.cat([ei, ei.flip(0)], 1)


def test_partition_covers_every_node_exactly_once(tmp_path):
    ei = _graph()
    part = partition(ei, 120, 6, tmp_path)
    assert part.shape == (120,) and int(part.min()) >= 0 and int(part.max()) < 6
    order, ptr = parts_to_nodes(part, 6)
    assert torch.equal(torch.sort(order).values, torch.arange(120))  # each node once
    assert int(ptr[-1]) == 120
    for k in range(6):
        assert bool((part[order[ptr[k]:ptr[k + 1]]] == k).all())
    assert (tmp_path / "metis_6_0.pt").is_file()


def test_partition_cache_is_reused_and_checked(tmp_path, monkeypatch):
    import importlib

    mod = importlib.import_module("gnnbench.methods.sampling.partition")
    ei = _graph()
    first = partition(ei, 120, 4, tmp_path)
    monkeypatch.setattr(mod, "_metis", lambda *a: pytest.fail("METIS ran again despite the cache"))
    assert torch.equal(partition(ei, 120, 4, tmp_path), first)
    # another graph with the same part count: the counts differ, so it is recomputed
    calls = []
    monkeypatch.setattr(mod, "_metis", lambda ei, n, k, seed: calls.append(n) or torch.zeros(n, dtype=torch.long))
    partition(_graph(n=130, seed=1), 130, 4, tmp_path)
    assert calls == [130]


def test_partition_bad_part_count():
    with pytest.raises(ValueError, match="num_parts=0"):
        partition(_graph(), 120, 0)
    with pytest.raises(ValueError, match="num_parts=500"):
        partition(_graph(), 120, 500)
