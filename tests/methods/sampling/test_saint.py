import torch

from gnnbench.backbones.conv import aggregate, mean_matrix
from gnnbench.methods.sampling import (RandomWalkSampler, build_csc, estimate_saint_norm,
                                       induced_subgraph, random_walk)


def _graph(n=30, m=90, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    ei = torch.unique(torch.cat([ei, ei.flip(0)], 1), dim=1)
    return ei


def test_random_walks_follow_edges():
    torch.manual_seed(0)
    ei = _graph()
    csc = build_csc(ei, 30)
    walks = random_walk(csc, torch.arange(30), 4)
    assert walks.shape == (30, 5) and torch.equal(walks[:, 0], torch.arange(30))
    edges = set(map(tuple, ei.t().tolist()))
    deg = csc.degree()
    for w in walks.tolist():
        for a, b in zip(w[:-1], w[1:]):
            assert (b, a) in edges or (a == b and deg[a] == 0)


def test_induced_subgraph_has_exactly_the_edges_between_the_nodes():
    ei = _graph()
    nodes = torch.tensor([1, 4, 9, 16, 25, 3])
    row, col, edge = induced_subgraph(build_csc(ei, 30), nodes)
    inside = torch.isin(ei[0], nodes) & torch.isin(ei[1], nodes)
    assert sorted(edge.tolist()) == inside.nonzero().view(-1).tolist()
    assert torch.equal(nodes[row], ei[0, edge]) and torch.equal(nodes[col], ei[1, edge])


def test_saint_normalised_aggregation_is_unbiased():
    """Zeng et al. 2020, Eq. 3: E[ζ_v | v sampled] = Σ_u Ã_{v,u} x_u (mean aggregation)."""
    torch.manual_seed(0)
    n = 30
    ei = _graph(n)
    x = torch.rand(n, 3) + 0.5
    sampler = RandomWalkSampler(ei, n, walk_length=2)
    roots = torch.arange(n)
    norm = estimate_saint_norm(sampler, roots, num_roots=4, num_samples=3000)
    w = mean_matrix(ei, n).weight  # one entry per edge, in edge order
    exact = torch.zeros(n, 3).index_add_(0, ei[1], x[ei[0]] * w.unsqueeze(1))
    from torch_geometric.sampler import NodeSamplerInput

    total, raw, hits = torch.zeros(n, 3), torch.zeros(n, 3), torch.zeros(n)
    for _ in range(2000):
        out = sampler.sample_from_nodes(NodeSamplerInput(None, roots[torch.randint(0, n, (4,))]))
        weight = w[out.edge] * norm.edge_norm[out.edge]
        total[out.node] += aggregate(x[out.node], out.row, out.col, weight, out.node.numel())
        raw[out.node] += aggregate(x[out.node], out.row, out.col, w[out.edge], out.node.numel())
        hits[out.node] += 1
    seen = (hits > 200) & (exact[:, 0] > 0)
    assert int(seen.sum()) > 20
    est = total[seen] / hits[seen].unsqueeze(1)
    rel = (est - exact[seen]) / exact[seen]
    assert float(rel.abs().mean()) < 0.03 and float(rel.abs().max()) < 0.12
    # without the normalisation the subgraph's aggregation misses neighbours: biased low
    biased = (raw[seen] / hits[seen].unsqueeze(1) - exact[seen]) / exact[seen]
    assert float(biased.mean()) < -0.1


def test_saint_loss_normalisation_estimates_the_node_sum():
    torch.manual_seed(1)
    n = 30
    ei = _graph(n, seed=3)
    sampler = RandomWalkSampler(ei, n, walk_length=1)
    norm = estimate_saint_norm(sampler, torch.arange(n), num_roots=3, num_samples=2000)
    loss = torch.rand(n)
    from torch_geometric.sampler import NodeSamplerInput

    est = 0.0
    reps = 1000
    for _ in range(reps):
        out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.randint(0, n, (3,))))
        est += float((loss[out.node] * norm.node_norm[out.node]).sum())
    assert abs(est / reps - float(loss.mean())) < 0.05 * float(loss.mean())
