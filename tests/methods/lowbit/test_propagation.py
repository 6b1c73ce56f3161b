"""lowbit's propagation architecture: SMP constraint residual, per-edge messages, integer kernels, sizes."""
from __future__ import annotations

import math

import pytest
import torch
from gnnbench.backbones.conv import gcn_matrix
from gnnbench.methods.lowbit.propagation import (
    PropagationGNN,
    PropagationGraph,
    QuantPropagation,
    SMPConstants,
    model_size_bytes,
)
from gnnbench.methods.lowbit.qlr import QLRQuantizer


def _graph(n=40, e=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = torch.cat([ei, ei.flip(0)], 1)
    a = gcn_matrix(ei, n)
    return PropagationGraph.build(a, a, conv_is_gcn=True), a


def test_smp_residual_and_multiplier_follow_the_dense_definition():
    torch.manual_seed(0)
    graph, a = _graph()
    c = SMPConstants(threshold=0.05, eta_lambda=1e-2)
    model = PropagationGNN(8, 16, 4, 32, 0.0, 3, c).eval()
    x = torch.randn(40, 8)
    with torch.no_grad():
        model(x, graph)
        z = model.transform(x)
    lap = torch.eye(40) - a.to_dense()
    lam = torch.full((40, 1), c.lambda0)
    s = torch.full((40, 1), c.lambda0)
    h = z
    for k in range(3):
        p = a.to_dense() @ h
        sub = (1 - (1 + c.mu) * c.eta) * h + c.mu * c.eta * p + c.eta * z
        delta = sub - h
        residual = torch.trace(delta.t() @ lap @ delta) + s * s - c.threshold * graph.num_edges
        assert float(model.residuals[k]) == pytest.approx(float(residual.mean()), rel=1e-4, abs=1e-5)
        assert float(model.multipliers[k]) == pytest.approx(float(lam.mean()), rel=1e-4, abs=1e-7)
        h = sub + 2 * c.eta * lam * (a.to_dense() @ delta)
        s = s + 2 * c.eta_s * lam * s
        lam = (lam - c.eta_lambda * residual).clamp(*c.multiplier_bounds(graph.c_min))  # ascent on a·|E| − s² − tr(ΔᵀLΔ)
    with torch.no_grad():
        assert torch.allclose(model(x, graph), h, atol=1e-5)


def test_multiplier_bounds_are_where_the_linear_step_stops_contracting():
    c = SMPConstants()
    lo, hi = c.multiplier_bounds()
    a_neg = 1 - c.eta - 2 * c.mu * c.eta  # a(c) at c = −1
    assert lo == pytest.approx(-(1 + a_neg) / (2 * c.eta * (1 - a_neg)), rel=1e-6)
    assert hi == pytest.approx(1 / (2 * c.eta), rel=1e-6)
    # the dense step matrix of one step, H ↦ A H + 2ηλ Â (A − I) H, on a graph: spectral radius ≤ 1 inside
    _, a = _graph()
    adj = a.to_dense().double()
    step = (1 - (1 + c.mu) * c.eta) * torch.eye(40, dtype=torch.float64) + c.mu * c.eta * adj
    def radius(lam):
        m = step + 2 * c.eta * lam * adj @ (step - torch.eye(40, dtype=torch.float64))
        return float(torch.linalg.eigvals(m).abs().max())
    assert radius(lo) <= 1 + 1e-6 and radius(hi) <= 1 + 1e-6
    assert radius(8 * hi) > 1 and radius(-8 * hi) > 1  # unprojected multipliers: the steps diverge
    # on the graph's own spectrum the interval is wider and tight: just outside it the step expands
    graph, _ = _graph()
    dense_min = float(torch.linalg.eigvalsh(adj).min())
    assert dense_min - 2e-3 <= graph.c_min <= dense_min
    g_lo, g_hi = c.multiplier_bounds(graph.c_min)
    assert g_lo < lo and g_hi >= hi
    assert radius(g_lo) <= 1 + 1e-6 and radius(g_hi) <= 1 + 1e-6
    assert radius(1.05 * g_lo) > 1 and radius(1.05 * g_hi) > 1
    with pytest.raises(ValueError, match="expansive"):
        SMPConstants(eta=0.5).multiplier_bounds()


def test_a_violated_constraint_does_not_make_the_steps_diverge():
    """The INT2-BT* NaN (issue 17): with ``tr(ΔᵀLΔ) ≫ a·|E|`` the ascent drove ``λ`` to −10³ in one
    step and ``2ηλ Q'(CΔ)`` then grew ``H`` geometrically over the ``K`` steps (inf, then NaN);
    the projected multiplier keeps every step non-expansive."""
    torch.manual_seed(0)
    graph, a = _graph()
    c = SMPConstants(threshold=0.1, eta_lambda=1e-5)
    model = PropagationGNN(8, 16, 4, 32, 0.0, 30, c).eval()
    x = 3000 * torch.randn(40, 8)  # logits grow in training: tr(ΔᵀLΔ) ~ 7e7 here, a·|E| ~ 20
    with torch.no_grad():
        z = model.transform(x)
        out = model(x, graph)
    lo, hi = model.bounds(graph)
    assert float(model.residuals[0]) > 1e3 * c.threshold * graph.num_edges  # the constraint is violated
    assert torch.isfinite(out).all()
    assert float(out.abs().max()) <= 10 * float(z.abs().max())
    assert all(lo - 1e-9 <= float(m) <= hi + 1e-9 for m in model.multipliers)


def test_without_smp_a_step_is_personalised_propagation():
    graph, a = _graph()
    model = PropagationGNN(8, 16, 4, 32, 0.0, 2, smp=None).eval()
    x = torch.randn(40, 8)
    with torch.no_grad():
        z = model.transform(x)
        h = z
        for _ in range(2):
            h = 0.9 * (a.to_dense() @ h) + 0.1 * z
        assert torch.allclose(model(x, graph), h, atol=1e-5)
    assert model.residuals is None


@pytest.mark.parametrize("bits", [8, 2])
def test_edge_messages_are_quantized_per_edge_with_gradients(bits):
    torch.manual_seed(0)
    graph, a = _graph()
    p = QuantPropagation(bits, messages="edge").train()
    x = torch.randn(40, 5, requires_grad=True)
    out = p.aggregate(x, graph)
    g = p.q_msg.grid()
    msgs = x.detach()[graph.src] * graph.weight.unsqueeze(1)
    dense = torch.zeros(40, 5).index_add_(0, graph.dst, g.dequantize(g.codes(msgs)))
    assert torch.allclose(out, dense, atol=1e-5)
    w = torch.randn(40, 5)
    (out * w).sum().backward()
    assert torch.allclose(x.grad, a.to_dense().t() @ w, atol=1e-5)  # identity STE
    assert float(p.q_msg.alpha.grad).__abs__() > 0
    # the batch range is that of the messages themselves, found without forming them
    assert float(p.q_msg.lo) == pytest.approx(float(msgs.min())) and float(p.q_msg.hi) == pytest.approx(float(msgs.max()))


def test_model_trains_and_alpha_learns(synthetic):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(0)
    ds = synthetic()
    m = LowBit(LowBit.Config(bits=4, propagation_steps=3, alpha_lr=1e-2), GCN(GCN.Config(hidden_channels=16)),
               TrainConfig(epochs=5), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    losses = [m.train_step(b) for e in range(20) for b in m.batches(e)]
    alphas = {n: float(p) for n, p in m.model.named_parameters() if n.endswith("alpha")}
    losses += [m.train_step(b) for e in range(5) for b in m.batches(e)]
    moved = [n for n, p in m.model.named_parameters() if n.endswith("alpha") and float(p) != alphas[n]]
    assert losses[-1] < losses[0] and math.isfinite(losses[-1])
    assert len(moved) >= len(alphas) // 2
    assert len(m.report()["smp_residual_per_layer"]) == 3


def test_model_size_counts_packed_weights_at_every_width():
    sizes = {}
    for bits in (32, 8, 4, 2):
        m = PropagationGNN(100, 16, 4, bits, 0.0, 2)
        if bits < 32:
            for q in m.quantizers():
                q.observe(torch.randn(10))
        sizes[bits] = model_size_bytes(m)
    weights, biases = 100 * 16 + 16 * 4, 16 + 4
    assert sizes[32] == 4 * (weights + biases)
    quantizers = 6 + 2 * 6  # two linear layers, two steps of two propagations
    for bits in (8, 4, 2):
        assert sizes[bits] == math.ceil(100 * 16 * bits / 8) + math.ceil(16 * 4 * bits / 8) + 4 * biases + 12 * quantizers
    assert sizes[2] < sizes[4] < sizes[8] < sizes[32]


def test_bt_model_size_is_two_bits():
    m2, bt = PropagationGNN(100, 16, 4, 2, 0.0, 1), PropagationGNN(100, 16, 4, 2, 0.0, 1, bt="bt")
    assert model_size_bytes(m2) == model_size_bytes(bt)


def test_bt_star_model_size_stores_each_quantizers_shift():
    sizes = {}
    for bt in ("bt", "bt*"):
        m = PropagationGNN(100, 16, 4, 2, 0.0, 1, bt=bt)
        for q in m.quantizers():
            q.observe(torch.randn(10))
        sizes[bt] = model_size_bytes(m)
    quantizers = 6 + 6  # two linear layers, one step of two propagations
    assert sizes["bt"] == 400 + 16 + 4 * 20 + 12 * quantizers  # 1600 and 64 weights at 2 bits
    assert sizes["bt*"] == sizes["bt"] + 4 * quantizers


def test_correction_bits_set_the_width_of_the_correction_quantizers_only():
    default = PropagationGNN(8, 16, 4, 2, 0.0, 2, bt="bt*")
    assert {(q.bits, q.bt) for q in default.gap.modules() if isinstance(q, QLRQuantizer)} == {(2, "bt*")}
    m = PropagationGNN(8, 16, 4, 2, 0.0, 2, bt="bt*", correction_bits=8)
    assert {(q.bits, q.bt) for q in m.gap.modules() if isinstance(q, QLRQuantizer)} == {(8, None)}
    assert {(q.bits, q.bt) for q in m.prop.modules() if isinstance(q, QLRQuantizer)} == {(2, "bt*")}
    assert (m.lin1.q_w.bits, m.lin1.q_w.bt) == (2, "bt*")


def test_correction_bits_is_an_option_of_the_propagation_architecture():
    from gnnbench.methods.lowbit import LowBit

    assert LowBit.Config(bits=2, bt="bt*", correction_bits=8).correction_bits == 8
    with pytest.raises(ValueError, match="correction_bits"):
        LowBit.Config(architecture="stacked", correction_bits=8)
