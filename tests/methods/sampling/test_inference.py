import pytest
import torch

from gnnbench.methods.sampling import layerwise_inference


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
def test_layerwise_inference_equals_full_forward(name):
    from gnnbench.backbones.gat import GAT
    from gnnbench.backbones.gcn import GCN
    from gnnbench.backbones.sage import SAGE

    cls = {"gcn": GCN, "sage": SAGE, "gat": GAT}[name]
    torch.manual_seed(0)
    n = 70
    ei = torch.randint(0, n, (2, 300))
    ei = ei[:, ei[0] != ei[1]]
    x = torch.randn(n, 12)
    stack = cls(cls.Config(num_layers=3)).build(12, 4).eval()
    full = stack(x, ei)
    for batch_size in (1, 16, 1000):
        out = layerwise_inference(stack, x, ei, batch_size)
        assert out.shape == (n, 4)
        assert torch.allclose(out, full, atol=1e-5)


def test_layerwise_inference_projects_wide_inputs_first():
    """SAGE-Mean with in > out channels goes through MeanSAGEConv's projection path too."""
    from gnnbench.backbones.sage import SAGE

    torch.manual_seed(1)
    ei = torch.randint(0, 40, (2, 200))
    x = torch.randn(40, 300)
    stack = SAGE(SAGE.Config(num_layers=2, hidden_channels=8)).build(300, 3).eval()
    assert torch.allclose(layerwise_inference(stack, x, ei, 7), stack(x, ei), atol=1e-5)


def test_layerwise_inference_rejects_bad_batch_size():
    from gnnbench.backbones.sage import SAGE

    stack = SAGE(SAGE.Config()).build(4, 2)
    with pytest.raises(ValueError, match="batch_size=0"):
        layerwise_inference(stack, torch.randn(5, 4), torch.tensor([[0, 1], [1, 2]]), 0)
