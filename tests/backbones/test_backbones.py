"""Backbones build PyG layer stacks of the right shapes; layer-wise application equals forward."""
from __future__ import annotations

import pytest
import torch

from gnnbench import registry


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("layers", [1, 3])
def test_shapes_and_layerwise(name, layers):
    cls = registry.load("backbones", name)
    model = cls(cls.Config(num_layers=layers)).build(12, 5)
    model.eval()
    x = torch.randn(20, 12)
    ei = torch.randint(0, 20, (2, 60))
    out = model(x, ei)
    assert out.shape == (20, 5) and model.num_layers == layers
    assert model.capabilities == cls.capabilities
    h = x
    for i in range(layers):
        h = model.layer(i, h, ei)
    assert torch.allclose(h, out)


def test_sage_projection_matches_pyg_sageconv():
    from torch_geometric.nn import SAGEConv

    from gnnbench.backbones.sage_conv import MeanSAGEConv

    torch.manual_seed(0)
    ours, ref = MeanSAGEConv(40, 6), SAGEConv(40, 6, aggr="mean")
    ref.load_state_dict(ours.state_dict())
    x, ei = torch.randn(25, 40), torch.randint(0, 25, (2, 70))
    assert torch.allclose(ours(x, ei), ref(x, ei), atol=1e-5)
    xs, ei2 = torch.randn(30, 40), torch.stack([torch.randint(0, 30, (50,)), torch.randint(0, 8, (50,))])
    assert torch.allclose(ours((xs, xs[:8]), ei2), ref((xs, xs[:8]), ei2), atol=1e-5)


def test_sparse_aware_dropout_keeps_expectation():
    from gnnbench.backbones.base import dropout

    torch.manual_seed(0)
    x = torch.zeros(1024, 1024)
    x[torch.randint(0, 1024, (5000,)), torch.randint(0, 1024, (5000,))] = 1.0
    out = dropout(x, 0.5, True)
    assert set(out.unique().tolist()) <= {0.0, 2.0}
    assert ((out != 0) & (x == 0)).sum() == 0
    kept = (out != 0).sum().item() / (x != 0).sum().item()
    assert 0.45 < kept < 0.55
    assert dropout(x, 0.5, False) is x
