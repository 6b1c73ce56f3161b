"""Every method's convolution matrices equal PyG's (``gcn_norm`` / ``GCNConv``, ``SAGEConv`` mean,
``GATConv``'s support) to 1e-6 on small graphs with explicit self-loops, duplicate edges, isolated
nodes and directed edges: the backbone provides the matrices, GraphSAINT, layer-wise inference,
VQ-GNN and low-bit use them."""
from __future__ import annotations

import pytest
import torch

from gnnbench import registry

N = 7
# 0↔1 (0→1 twice), 1→2 only, 2↔3, explicit loops 3→3 and 1→1 (twice), 5→0 only, node 4 and 6 isolated
EDGES = torch.tensor([[0, 1, 0, 1, 2, 3, 3, 1, 1, 5],
                      [1, 0, 1, 2, 3, 2, 3, 1, 1, 0]])


def _pyg_dense(name: str) -> list[torch.Tensor]:
    """``C⁽ˢ⁾`` as PyG's own layers compute them: the layer applied to ``I_N`` with identity weights."""
    from torch_geometric.nn import GCNConv, SAGEConv

    eye = torch.eye(N)
    with torch.no_grad():
        if name == "gcn":
            conv = GCNConv(N, N, bias=False)
            conv.lin.weight.copy_(eye)
            return [conv(eye, EDGES)]  # out[v] = Σ_u C[v, u] e_u: row v of C
        conv = SAGEConv(N, N, aggr="mean", root_weight=False, bias=False)
        conv.lin_l.weight.copy_(eye)
        return [eye, conv(eye, EDGES)]


def _stack(name: str, **cfg):
    cls = registry.load("backbones", name)
    torch.manual_seed(0)
    return cls(cls.Config(**cfg)).build(5, 3)


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_backbone_matrices_equal_pygs(name):
    mats = _stack(name).conv_matrices(0, EDGES, N)
    for ours, ref in zip(mats, _pyg_dense(name)):
        assert torch.allclose(ours.to_dense(), ref, atol=1e-6)


def test_the_issues_self_loop_row():
    """4 nodes, 0↔1, 2↔3 and an explicit loop 3→3: row 3 of GCN's C is [0, 0, .5, .5]."""
    from gnnbench.backbones.conv import gcn_matrix

    ei = torch.tensor([[0, 1, 2, 3, 3], [1, 0, 3, 2, 3]])
    row = gcn_matrix(ei, 4).to_dense()[3]
    assert torch.allclose(row, torch.tensor([0.0, 0.0, 0.5, 0.5]), atol=1e-6)


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_weighted_layer_with_the_backbones_matrices_is_the_layer(name):
    stack = _stack(name, num_layers=2, dropout=0.0).eval()
    x = torch.randn(N, 5)
    for i, h in enumerate([x, stack.layer(0, x, EDGES)]):
        ours = stack.weighted_layer(i, h, stack.conv_matrices(i, EDGES, N))
        assert torch.allclose(ours, stack.layer(i, h, EDGES), atol=1e-6)


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_graphsaint_subgraph_matrices_are_the_graphs(name):
    """GraphSAINT aggregates with the whole graph's C restricted to the subgraph (Eq. 3), 1/α = 1 here."""
    from gnnbench.methods.graphsaint_rw import _scaled
    from gnnbench.methods.sampling import InducedSubgraphSampler
    from torch_geometric.sampler import NodeSamplerInput

    stack = _stack(name)
    sampler = InducedSubgraphSampler(EDGES, N)
    for nodes in (torch.arange(N), torch.tensor([1, 2, 3, 6])):
        out = sampler.sample_from_nodes(NodeSamplerInput(None, nodes))
        local_ei = torch.stack([out.row, out.col])
        mats = [_scaled(m, torch.ones(EDGES.size(1))) for m in stack.conv_matrices(0, EDGES, N)]
        for m, ref in zip(mats, _pyg_dense(name)):
            sub = m.on_subgraph(out.node, out.edge, local_ei).to_dense()
            assert torch.allclose(sub, ref[out.node][:, out.node], atol=1e-6)


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
def test_layerwise_inference_equals_the_full_forward(name):
    from gnnbench.methods.sampling import layerwise_inference

    cfg = {"heads": 2, "hidden_channels": 3} if name == "gat" else {}
    stack = _stack(name, num_layers=2, **cfg).eval()
    x = torch.randn(N, 5)
    assert torch.allclose(layerwise_inference(stack, x, EDGES, batch_size=2), stack(x, EDGES), atol=1e-6)


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_vqgnn_batch_matrices_are_the_backbones(name):
    from gnnbench.methods.vqgnn.batching import conv_graph

    cg = conv_graph(_stack(name), EDGES, N)
    for s, ref in enumerate(_pyg_dense(name)):
        pick = cg.support == s
        dense = torch.zeros(N, N).index_put_((cg.dst[pick], cg.src[pick]), cg.weight[pick], accumulate=True)
        assert torch.allclose(dense, ref, atol=1e-6)


def test_vqgnn_attention_support_is_gatconvs():
    from torch_geometric.nn import GATConv

    from gnnbench.methods.vqgnn.batching import conv_graph

    cg = conv_graph(_stack("gat"), EDGES, N)
    _, (ei, _) = GATConv(5, 2)(torch.randn(N, 5), EDGES, return_attention_weights=True)
    assert torch.equal(torch.stack([cg.src, cg.dst]), ei)


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_lowbit_operators_are_the_backbones(name):
    from gnnbench.methods.lowbit.model import GraphOperators

    ops = GraphOperators.build(_stack(name), EDGES, N)
    assert torch.allclose(ops.conv.to_dense(), _pyg_dense(name)[-1], atol=1e-6)
    assert torch.allclose(ops.gcn.to_dense(), _pyg_dense("gcn")[0], atol=1e-6)


def test_gat_attention_matrix_is_row_stochastic_on_its_support():
    """The learnable C of GAT (Table 1, note 3: row-normalised, non-zero only on A + I)."""
    stack = _stack("gat", heads=2, hidden_channels=3).eval()
    with torch.no_grad():
        att = stack.attention_matrices(0, torch.randn(N, 5), EDGES)
    support = stack.attention_support(0, EDGES, N)
    assert torch.equal(att.src, support.src) and torch.equal(att.dst, support.dst)
    assert torch.allclose(att.to_dense().sum(1), torch.ones(N), atol=1e-6)
