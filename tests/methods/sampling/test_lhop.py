"""L-hop mini-batch inference (the OGB / NeighborLoader baseline) and the ``inference`` option."""
import pytest
import torch

from gnnbench.methods.sampling import layerwise_inference, lhop_inference
from gnnbench.methods.sampling import lhop as lhop_module


def _stack(name, num_layers=3, **options):
    from gnnbench.backbones.gat import GAT
    from gnnbench.backbones.gcn import GCN
    from gnnbench.backbones.sage import SAGE

    cls = {"gcn": GCN, "sage": SAGE, "gat": GAT}[name]
    return cls(cls.Config(num_layers=num_layers, **options)).build(12, 4)


def _graph(n=70, e=300, seed=0):
    """A random directed graph with explicit self-loops, a duplicate edge and an isolated node."""
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n - 1, (2, e), generator=g)  # node n-1 is isolated
    ei = torch.cat([ei, torch.tensor([[3, 5, 5], [3, 5, 7]]), ei[:, :1]], 1)
    return torch.randn(n, 12, generator=g), ei


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("norm", ["none", "batch"])
def test_lhop_equals_full_graph_and_layerwise(name, norm):
    torch.manual_seed(0)
    x, ei = _graph()
    stack = _stack(name, norm=norm)
    if norm == "batch":  # give the running statistics values other than their initial ones
        stack.train()
        stack(x, ei)
    stack.eval()
    full = stack(x, ei)
    layerwise = layerwise_inference(stack, x, ei, 16)
    for batch_size in (1, 16, 1000):
        out = lhop_inference(stack, x, ei, batch_size)
        assert out.shape == (x.size(0), 4)
        assert torch.allclose(out, full, atol=1e-5), (batch_size, (out - full).abs().max())
        assert torch.allclose(out, layerwise, atol=1e-5)


def test_lhop_batches_have_the_batch_size_and_cover_every_node_once(monkeypatch):
    seen = []
    sample = lhop_module.UniformNeighborSampler.sample

    def spy(self, seeds):
        seen.append(seeds.clone())
        assert self.fanouts == [-1, -1]  # all neighbours at every hop
        return sample(self, seeds)

    monkeypatch.setattr(lhop_module.UniformNeighborSampler, "sample", spy)
    x, ei = _graph(n=50)
    lhop_inference(_stack("sage", num_layers=2).eval(), x, ei, 7)
    assert [s.numel() for s in seen] == [7] * 7 + [1]
    assert torch.equal(torch.cat(seen), torch.arange(50))


def test_lhop_neighbourhood_is_the_l_hop_one():
    """On a path 0 → 1 → 2 → 3 → 4, node 4's 2-hop computation graph holds 2, 3, 4 and no more."""
    from gnnbench.methods.sampling import UniformNeighborSampler

    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    out = UniformNeighborSampler(ei, 5, [-1, -1]).sample(torch.tensor([4]))
    assert sorted(out.node.tolist()) == [2, 3, 4]
    x = torch.randn(5, 12)
    stack = _stack("sage", num_layers=2).eval()
    assert torch.allclose(lhop_inference(stack, x, ei, 1), stack(x, ei), atol=1e-5)


def test_lhop_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size=0"):
        lhop_inference(_stack("sage", num_layers=2), torch.randn(5, 12), torch.tensor([[0, 1], [1, 2]]), 0)


def _method(name, backbone, **options):
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.registry import load

    method_cls, backbone_cls = load("methods", name), load("backbones", backbone)
    bb = backbone_cls(backbone_cls.Config(num_layers=2, hidden_channels=16))
    small = {"ns_sage": {"batch_size": 64, "fanouts": (5, 3)},
             "cluster_gcn": {"num_parts": 8, "parts_per_batch": 2},
             "graphsaint_rw": {"num_roots": 32, "sample_coverage": 2.0}}[name]
    return method_cls(method_cls.Config(**small, **options), bb, TrainConfig(epochs=1), BudgetConfig())


@pytest.mark.parametrize("name, backbone", [("ns_sage", "sage"), ("ns_sage", "gat"), ("cluster_gcn", "gcn"),
                                            ("cluster_gcn", "sage"), ("graphsaint_rw", "gcn"),
                                            ("graphsaint_rw", "gat")])
def test_methods_predict_the_same_with_either_inference(name, backbone, synthetic, tmp_path):
    torch.manual_seed(0)
    ds = synthetic(num_features=12)
    m = _method(name, backbone, inference_batch_size=40)
    m.cache_dir = tmp_path
    m.setup(ds, torch.device("cpu"))
    for b in m.batches(1):
        m.train_step(b)
    layerwise = m.predict(["valid", "test"])
    m.config = m.config.model_copy(update={"inference": "lhop"})
    lhop = m.predict(["valid", "test"])
    for split in ("valid", "test"):
        assert torch.allclose(lhop[split].scores, layerwise[split].scores, atol=1e-5)


@pytest.mark.parametrize("name, backbone", [("ns_sage", "sage"), ("cluster_gcn", "gcn"), ("graphsaint_rw", "sage")])
def test_bad_inference_option_is_refused_before_any_data(name, backbone, cli, tmp_path):
    from gnnbench.config import TrialConfig
    from gnnbench.errors import ConfigError
    from gnnbench.runner import plan

    with pytest.raises(ConfigError, match="inference") as exc:
        plan(TrialConfig(method=name, backbone=backbone, method_config={"inference": "full"}))
    assert "'layerwise'" in str(exc.value) and "'lhop'" in str(exc.value)
    db = tmp_path / "r.db"
    code, _, err = cli("run", "-m", name, "-b", backbone, "--set", "method.inference=l-hop",
                       "--db", str(db), "--cache-dir", str(tmp_path / "cache"))
    assert code == 2 and "inference = 'l-hop'" in err and "'lhop'" in err, err
    assert "Traceback" not in err and not db.exists()
