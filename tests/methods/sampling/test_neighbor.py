import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.sampler import NegativeSampling

from gnnbench.methods.sampling import UniformNeighborSampler, build_csc, sample_neighbors, sampled_forward


def _random_graph(n=60, m=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    return torch.unique(ei, dim=1)


def test_sampled_edges_exist_and_respect_fanouts():
    torch.manual_seed(0)
    ei = _random_graph()
    n = 60
    fanouts = [4, 2]
    s = UniformNeighborSampler(ei, n, fanouts)
    out = s.sample(torch.tensor([0, 5, 7, 11]))
    src, dst = out.node[out.row], out.node[out.col]
    # every sampled edge is the graph edge its id names
    assert torch.equal(ei[0, out.edge], src) and torch.equal(ei[1, out.edge], dst)
    existing = set(map(tuple, ei.t().tolist()))
    assert all((a, b) in existing for a, b in zip(src.tolist(), dst.tolist()))
    indeg = torch.bincount(ei[1], minlength=n)
    start = 0
    for hop, k in enumerate(fanouts):
        cols = out.col[start:start + out.num_sampled_edges[hop]]
        start += out.num_sampled_edges[hop]
        frontier_lo = sum(out.num_sampled_nodes[:hop])
        frontier = torch.arange(frontier_lo, frontier_lo + out.num_sampled_nodes[hop])
        counts = torch.bincount(cols, minlength=out.node.numel())[frontier]
        assert torch.equal(counts, torch.clamp(indeg[out.node[frontier]], max=k))
    assert len(out.num_sampled_nodes) == 3 and sum(out.num_sampled_nodes) == out.node.numel()
    assert out.node.unique().numel() == out.node.numel()


def test_neighbour_choice_is_uniform_and_without_replacement():
    torch.manual_seed(1)
    deg, k, trials = 10, 3, 4000
    ei = torch.stack([torch.arange(1, deg + 1), torch.zeros(deg, dtype=torch.long)])
    csc = build_csc(ei, deg + 1)
    nodes = torch.zeros(trials, dtype=torch.long)
    pos, slot = sample_neighbors(csc, nodes, k)
    src = csc.src[pos]
    assert pos.numel() == trials * k
    # distinct within each draw
    per_draw = src[torch.argsort(slot, stable=True)].view(trials, k)
    assert all(len(set(r)) == k for r in per_draw.tolist()[:500])
    counts = torch.bincount(src, minlength=deg + 1)[1:].double()
    expected = trials * k / deg
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 27.9  # 9 degrees of freedom, p = 0.001


def test_fanout_minus_one_takes_all():
    ei = _random_graph(seed=2)
    s = UniformNeighborSampler(ei, 60, [-1])
    out = s.sample(torch.tensor([3]))
    assert out.row.numel() == int((ei[1] == 3).sum())


def test_bad_fanouts_raise():
    with pytest.raises(ValueError, match="fanouts"):
        UniformNeighborSampler(_random_graph(), 60, [])
    with pytest.raises(ValueError, match="fanouts"):
        UniformNeighborSampler(_random_graph(), 60, [3, -2])


def test_node_loader_and_trimmed_forward_match_full_stack():
    from gnnbench.backbones.sage import SAGE

    torch.manual_seed(3)
    ei = _random_graph()
    data = Data(x=torch.randn(60, 8), edge_index=ei, y=torch.randint(0, 3, (60,)))
    loader = NodeLoader(data, UniformNeighborSampler(ei, 60, [3, 3]), input_nodes=torch.arange(20),
                        batch_size=8)
    batch = next(iter(loader))
    assert batch.batch_size == 8 and torch.equal(batch.n_id[:8], torch.arange(8))
    assert torch.equal(batch.x, data.x[batch.n_id])
    stack = SAGE(SAGE.Config(num_layers=2)).build(8, 3).eval()
    trimmed = sampled_forward(stack, batch.x, batch.edge_index, batch.num_sampled_nodes, batch.num_sampled_edges)
    full = stack(batch.x, batch.edge_index)[:8]
    assert torch.allclose(trimmed, full, atol=1e-6)


def test_link_loader_binary_negatives():
    torch.manual_seed(4)
    ei = _random_graph()
    data = Data(x=torch.randn(60, 4), edge_index=ei)
    loader = LinkLoader(data, UniformNeighborSampler(ei, 60, [2]), edge_label_index=ei[:, :10],
                        neg_sampling=NegativeSampling("binary", 1.0), batch_size=10)
    batch = next(iter(loader))
    assert batch.edge_label_index.shape == (2, 20)
    assert int((batch.edge_label > 0).sum()) == 10
    pos = batch.edge_label_index[:, batch.edge_label > 0]
    got = set(map(tuple, batch.n_id[pos].t().tolist()))
    assert got == set(map(tuple, ei[:, :10].t().tolist()))
