"""lowbit: quantizer bounds, STE gradients, packing, SMP residuals, training and integer inference."""
from __future__ import annotations

import pytest
import torch

from gnnbench.methods.lowbit.packing import pack, packed_nbytes, unpack
from gnnbench.methods.lowbit.quantizer import LearnedQuantizer, fake_quantize, qrange, search_range
from gnnbench.methods.lowbit.smp import SMPConfig, conv_matrix, smoothness, smp_solve


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("signed", [True, False])
def test_quantizer_round_trip_within_half_step(bits, signed):
    torch.manual_seed(0)
    x = torch.randn(500) if signed else torch.rand(500)
    alpha = x.abs().max()
    qmin, qmax = qrange(bits, signed)
    s = alpha / qmax
    inside = (x >= s * qmin) & (x <= s * qmax)
    err = (fake_quantize(x, alpha, bits, signed) - x).abs()
    assert inside.any()
    assert float(err[inside].max()) <= float(s) / 2 + 1e-6


def test_search_range_beats_max_range_at_two_bits():
    torch.manual_seed(0)
    x = torch.randn(4000)
    best = search_range(x, 2, True)
    err = lambda a: float((fake_quantize(x, a, 2, True) - x).pow(2).mean())
    assert float(best) < float(x.abs().max())
    assert err(best) < err(x.abs().max())


def test_straight_through_gradients():
    x = torch.tensor([-3.0, -0.4, 0.2, 0.7, 5.0], requires_grad=True)
    alpha = torch.tensor(1.0, requires_grad=True)
    fake_quantize(x, alpha, 4, True).sum().backward()
    # identity inside the range, zero where clipped
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))
    assert alpha.grad is not None and alpha.grad.abs() > 0


def test_learned_quantizer_initialises_on_first_training_batch():
    q = LearnedQuantizer(4)
    x = torch.rand(100)
    out = q(x)
    assert bool(q.initialized) and not bool(q.signed)
    assert out.unique().numel() <= 16


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_packing_round_trip(bits):
    qmin, qmax = qrange(bits, True)
    q = torch.randint(qmin, qmax + 1, (37,))
    packed = pack(q, bits, qmin)
    assert packed.dtype == torch.uint8 and packed.numel() == packed_nbytes(37, bits)
    assert torch.equal(unpack(packed, bits, qmin, 37), q)


def test_packing_rejects_codes_off_the_grid():
    with pytest.raises(ValueError, match="outside"):
        pack(torch.tensor([0, 5]), 2, -2)


def test_smp_constraint_residual_falls(synthetic):
    ds = synthetic()
    g = ds.graph
    adj = conv_matrix(g.edge_index, g.num_nodes, "gcn")
    torch.manual_seed(0)
    rough = torch.randn(g.num_nodes, 8)
    z = rough
    for _ in range(6):  # an oversmoothed input: six propagations of noise
        z = torch.sparse.mm(adj, z)
    cfg = SMPConfig(lam=1.0, eps=0.5, steps=30, eta=0.05, rho=100.0, mu_max=10.0)
    h, mu, res = smp_solve(z, adj, smoothness(rough, adj), cfg)
    assert res[0] > 0.1
    assert res[-1] < 0.5 * res[0]
    assert res[15:].mean() < 0.5 * res[0]  # DMM oscillates, but the residual falls on average
    assert smoothness(h, adj) > smoothness(z, adj)


@pytest.mark.parametrize("backbone", ["gcn", "sage"])
@pytest.mark.parametrize("bits", [8, 2])
def test_lowbit_trains_and_integer_inference_matches(synthetic, backbone, bits):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.backbones.sage import SAGE
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(0)
    ds = synthetic()
    bb = (GCN if backbone == "gcn" else SAGE)
    m = LowBit(LowBit.Config(bits=bits), bb(bb.Config(num_layers=3, hidden_channels=16)),
               TrainConfig(epochs=5), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    losses = [m.train_step(b) for e in range(15) for b in m.batches(e)]
    assert losses[-1] < losses[0]
    fake = m.predict(["test"])["test"].scores
    from gnnbench.methods.lowbit.int8 import IntegerGNN

    m.model.eval()
    with torch.no_grad():
        ints = IntegerGNN(m.model)(m.x, m.ops)[ds.split["test"]]
    assert torch.allclose(fake, ints, atol=1e-3 * float(fake.abs().max()) + 1e-4)
    rep = m.report()
    assert rep["bits"] == bits and rep["model_size_bytes"] < rep["fp32_model_size_bytes"]
    assert len(rep["smp_residual_per_step"]) == 4
