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


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
def test_defaults_are_todays_layers(name):
    """No normalisation, no residual, ReLU (ELU for GAT) between layers: the stack as before."""
    cls = registry.load("backbones", name)
    stack = cls().build(6, 3)
    assert stack.norm_name == "none" and not stack.residual
    assert stack.act_name == ("elu" if name == "gat" else "relu")
    assert all(isinstance(n, torch.nn.Identity) for n in stack.norms)


@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("act", ["relu", "elu", "gelu", "leaky_relu"])
def test_norm_residual_and_activation(norm, act):
    import torch.nn.functional as F

    from gnnbench.backbones.gcn import GCN

    torch.manual_seed(0)
    stack = GCN(GCN.Config(num_layers=3, hidden_channels=8, dropout=0.0, norm=norm, residual=True,
                           activation=act)).build(8, 4)
    assert len(stack.norms) == 2 and stack.act is getattr(F, act)
    x, ei = torch.randn(30, 8), torch.randint(0, 30, (2, 90))
    h1 = stack.convs[0](x, ei)
    expected = getattr(F, act)(stack.norms[0](h1)) + x  # 8 → 8: the residual applies
    assert torch.allclose(stack.layer(0, x, ei), expected, atol=1e-6)
    assert stack(x, ei).shape == (30, 4)


def test_layerwise_inference_with_batch_norm_uses_running_statistics():
    """In evaluation batch norm uses its running statistics, so batching inference changes nothing."""
    from gnnbench.backbones.sage import SAGE
    from gnnbench.methods.sampling import layerwise_inference

    torch.manual_seed(0)
    stack = SAGE(SAGE.Config(num_layers=3, hidden_channels=8, norm="batch")).build(5, 3)
    x, ei = torch.randn(40, 5), torch.randint(0, 40, (2, 160))
    stack.train()
    stack(x, ei)  # moves the running statistics away from (0, 1)
    assert float(stack.norms[0].running_mean.abs().sum()) > 0
    stack.eval()
    assert torch.allclose(layerwise_inference(stack, x, ei, batch_size=7), stack(x, ei), atol=1e-5)
