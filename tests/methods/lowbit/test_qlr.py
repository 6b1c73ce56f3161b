"""lowbit's QLR quantizer: zero-point grid, α's gradient (it learns), BT and BT*."""
from __future__ import annotations

import pytest
import torch
from gnnbench.methods.lowbit.qlr import BT_STEP, QLRQuantizer, code_values, fake_quantize, grid, skewness


def _authors_alpha_gradient(x, alpha, g, grad):
    """The α gradient of the authors' ``LearnsQuantize.backward``: it saves the dequantized output."""
    out = fake_quantize(x, alpha, g).detach()  # what their forward saves
    lo, hi = g.dequantize(torch.tensor(float(g.qmin))), g.dequantize(torch.tensor(float(g.qmax)))
    small, big = (out < lo).float(), (out > hi).float()
    middle = 1 - small - big
    v = out / g.scale + g.zero_point
    return float(((small * lo + big * hi + middle * (v.round() - v)) * grad).sum())


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_grid_has_an_exact_zero_and_half_step_error_inside(bits):
    torch.manual_seed(0)
    x = torch.randn(2000) + 0.5
    g = grid(1.0, float(x.min()), float(x.max()), bits)
    assert float(g.dequantize(torch.tensor(float(g.zero_point)))) == 0.0
    err = (fake_quantize(x, torch.tensor(1.0), g) - x).abs()
    assert float(err.max()) <= g.scale / 2 + 1e-6


@pytest.mark.parametrize("bits", [4, 2])
def test_alpha_gradient_is_nonzero_and_the_authors_is_zero(bits):
    torch.manual_seed(0)
    x = torch.randn(4000)
    target = torch.randn(4000)
    q = QLRQuantizer(bits)
    out = q(x)
    loss = (out - target).pow(2).sum()
    loss.backward()
    ours = float(q.alpha.grad)
    grad_out = 2 * (out.detach() - target)
    theirs = _authors_alpha_gradient(x, q.alpha.detach(), q.grid(), grad_out)
    assert abs(ours) > 1e-3
    assert abs(theirs) < 1e-6 * abs(ours) + 1e-6  # their backward gives α exactly nothing


def test_alpha_gradient_matches_the_straight_through_formula():
    torch.manual_seed(0)
    x = torch.randn(3000) * 2
    alpha = torch.tensor(0.6, requires_grad=True)
    g = grid(0.6, float(x.min()), float(x.max()), 4)
    w = torch.randn(3000)
    (fake_quantize(x, alpha, g) * w).sum().backward()
    v = x / g.scale + g.zero_point
    inside = (v >= g.qmin) & (v <= g.qmax)
    c = g.codes(x)
    expected = float((w * torch.where(inside, c - v, c - g.zero_point)).sum() * g.scale / 0.6)
    assert float(alpha.grad) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("bits", [4, 2])
def test_alpha_learns_towards_less_error(bits):
    torch.manual_seed(0)
    x = torch.randn(5000)
    q = QLRQuantizer(bits)
    q(x)
    q.alpha.data.fill_(1.0)  # start from the full range, far from the error minimum
    opt = torch.optim.SGD([q.alpha], lr=1e-4)
    errors = []
    for _ in range(30):
        opt.zero_grad()
        loss = (q(x) - x).pow(2).sum()
        loss.backward()
        opt.step()
        errors.append(float(loss.detach()))
    assert float(q.alpha) < 0.95 and errors[-1] < errors[0]


def test_initial_alpha_minimises_mean_absolute_error():
    torch.manual_seed(0)
    x = torch.randn(5000)
    q = QLRQuantizer(2)
    q.observe(x)
    a = float(q.alpha)
    assert 0.1 <= a <= 1.0
    err = lambda a_: float((grid(a_, float(x.min()), float(x.max()), 2).dequantize(
        grid(a_, float(x.min()), float(x.max()), 2).codes(x)) - x).abs().mean())
    assert all(err(a) <= err(b) + 1e-7 for b in [0.1 * i for i in range(1, 11)])


def test_bt_has_four_levels_on_the_eight_bit_grid():
    torch.manual_seed(0)
    x = torch.randn(3000)
    q = QLRQuantizer(2, bt="bt")
    out = q(x)
    g = q.grid()
    assert g.qmax == 255
    codes = g.codes(x)
    assert set(codes.unique().tolist()) <= {0.0, 85.0, 170.0, 255.0}
    assert out.unique().numel() <= 4 and code_values(g).numel() == 4


def test_bt_star_shifts_by_the_skewness_and_fits_a_skewed_tensor_better():
    torch.manual_seed(0)
    x = torch.distributions.Exponential(1.0).sample((20000,))  # skewness 2
    assert round(skewness(x)) == 2
    bt, star = QLRQuantizer(2, bt="bt"), QLRQuantizer(2, bt="bt*")
    bt(x), star(x)
    assert int(star.shift) == 2 and int(bt.shift) == 0
    assert 0.1 < float(star.alpha) <= 1.1
    g = star.grid()
    manual = torch.round((torch.round((x / g.scale + g.zero_point).clamp(0, 255)) + 2) / BT_STEP).clamp(0, 3) * BT_STEP
    assert torch.equal(g.codes(x), manual)


def test_bt_needs_two_bits():
    with pytest.raises(ValueError, match="INT2"):
        QLRQuantizer(4, bt="bt")


def test_ranges_are_kept_for_evaluation():
    q = QLRQuantizer(8)
    q(torch.linspace(-1, 3, 100))
    q.eval()
    out = q(torch.tensor([10.0, -10.0]))  # outside the training range: clipped to it
    step = q.grid().scale  # the zero point's rounding moves the ends by up to one step
    assert float(out.max()) <= 3.0 * float(q.alpha) + step and float(out.min()) >= -1.0 * float(q.alpha) - step
