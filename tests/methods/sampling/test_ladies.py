"""LADIES' layer sampler: its distribution, its unbiased layer estimate, its output layout."""
import torch

from gnnbench.backbones.conv import aggregate, gcn_matrix, identity_matrix, mean_matrix
from gnnbench.methods.sampling.ladies import LadiesSampler, LayerMatrices, layer_probabilities, sample_layer


def _graph(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, 4 * n), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    return torch.unique(torch.cat([ei, ei.flip(0)], 1), dim=1)


def test_probabilities_are_the_squared_column_norms_of_the_rows_above():
    """Zou et al. 2019, Eq. 6 on a 4-node path 0-1-2-3 with rows {0, 1}: p_j ∝ Σ_{i∈{0,1}} C_ij²."""
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    c = gcn_matrix(ei, 4)
    (cand, p), _ = layer_probabilities(LayerMatrices.of([c], 4), torch.tensor([0, 1]))
    dense = c.to_dense()[[0, 1]]
    norms = dense.square().sum(0)
    assert cand.tolist() == [0, 1, 2]  # node 3 is no neighbour of the layer above: p = 0
    assert torch.allclose(p, norms[:3] / norms.sum())


def test_the_layer_estimate_is_unbiased():
    """E[Ĉ X] = C[V_above, :] X for the debiased sampled matrix (Eq. 5), mean and GCN matrices."""
    torch.manual_seed(0)
    n = 40
    ei = _graph(n)
    x = torch.rand(n, 3) + 0.5
    dst = torch.arange(0, n, 3)
    for matrix in (mean_matrix(ei, n), gcn_matrix(ei, n)):
        layer = LayerMatrices.of([matrix], n)
        exact = matrix.to_dense()[dst] @ x
        total = torch.zeros(dst.numel(), 3)
        draws = 2000
        for _ in range(draws):
            _, [(_, src, slot, w)] = sample_layer(layer, dst, num_samples=8)
            total += aggregate(x, src, slot, w, dst.numel())
        rel = (total / draws - exact) / exact
        assert float(rel.abs().mean()) < 0.04 and float(rel.abs().max()) < 0.15, rel
        # without the importance weights 1 / (s p_j) the estimate is biased (most columns missed)
        _, [(_, src, slot, w)] = sample_layer(layer, dst, num_samples=8)
        raw = aggregate(x, src, slot, matrix.to_dense()[dst[slot], src], dst.numel())
        assert float(((raw - exact) / exact).mean()) < -0.2


def test_row_normalisation_keeps_each_rows_exact_sum():
    torch.manual_seed(0)
    n = 40
    ei = _graph(n)
    m = gcn_matrix(ei, n)
    dst = torch.arange(10)
    _, [(_, src, slot, w)] = sample_layer(LayerMatrices.of([m], n), dst, 6, row_normalize=True)
    got = torch.zeros(10).index_add_(0, slot, w)
    hit = torch.zeros(10, dtype=torch.bool)
    hit[slot] = True
    assert int(hit.sum()) >= 3  # rows without a sampled neighbour get nothing
    assert torch.allclose(got[hit], m.to_dense()[dst].sum(1)[hit], atol=1e-5)


def test_sampler_output_layout_and_root_terms_are_not_sampled():
    torch.manual_seed(0)
    n = 60
    ei = _graph(n)
    layers = [LayerMatrices.of([identity_matrix(n), mean_matrix(ei, n)], n) for _ in range(2)]
    sampler = LadiesSampler(layers, n, nodes_per_layer=10)
    seeds = torch.tensor([3, 7, 11])
    out = sampler.sample(seeds)
    weight, conv = out.metadata
    assert out.node[:3].tolist() == seeds.tolist() and out.node.unique().numel() == out.node.numel()
    assert len(out.num_sampled_nodes) == 3 and sum(out.num_sampled_nodes) == out.node.numel()
    assert all(k <= 10 for k in out.num_sampled_nodes[1:])  # at most s new nodes per layer
    assert sum(out.num_sampled_edges) == out.row.numel() == weight.numel()
    assert bool((conv == 1).all())  # only the mean matrix is sampled; the root term I is exact
    hop0 = out.num_sampled_edges[0]
    assert int(out.col[:hop0].max()) < 3 and int(out.row[:hop0].max()) < 3 + out.num_sampled_nodes[1]
    glob = out.node
    a = mean_matrix(ei, n).to_dense()
    assert bool((a[glob[out.col], glob[out.row]] > 0).all())  # every entry is an edge of the graph
