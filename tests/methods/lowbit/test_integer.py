"""lowbit's integer engine (FBGEMM embedding bags + quantized linear) against the fake-quantized model."""
from __future__ import annotations

import pytest
import torch
from gnnbench.methods.lowbit import integer
from gnnbench.methods.lowbit.integer import IntegerPropagationGNN, pack_rows


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_packed_rows_sum_as_the_embedding_bag_kernel(bits):
    torch.manual_seed(0)
    codes = torch.randint(0, 1 << bits, (30, 10)).float()
    rows = pack_rows(codes, bits, 1.0, -1.0)
    op = getattr(torch.ops.quantized, integer._BAGS[bits])
    indices = torch.tensor([0, 3, 5, 5, 29])
    offsets = torch.tensor([0, 2, 5])
    w = torch.tensor([0.5, 1.0, 0.25, 2.0, -1.0])
    out = op(rows, indices, offsets, False, 0, False, w, None, True)[:, :10]
    vals = codes - 1.0
    expected = torch.stack([0.5 * vals[0] + vals[3], 0.25 * vals[5] + 2 * vals[5] - vals[29]])
    assert torch.allclose(out, expected, atol=1e-5)


def _trained(synthetic, bits, bt="none", backbone="gcn", epochs=15, correction_bits=None):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.backbones.sage import SAGE
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(0)
    ds = synthetic(num_nodes=500)
    bb = GCN if backbone == "gcn" else SAGE
    m = LowBit(LowBit.Config(bits=bits, bt=bt, messages="node", propagation_steps=4, correction_bits=correction_bits),
               bb(bb.Config(hidden_channels=32)), TrainConfig(epochs=epochs), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    for e in range(epochs):
        for b in m.batches(e):
            m.train_step(b)
    m.model.eval()
    return m


@pytest.mark.parametrize("bits,bt,backbone", [(8, "none", "gcn"), (4, "none", "gcn"), (2, "none", "gcn"),
                                              (2, "bt", "gcn"), (2, "bt*", "gcn"), (8, "none", "sage"),
                                              (4, "none", "sage")])
def test_integer_predictions_agree_with_the_fake_quantized_model(synthetic, bits, bt, backbone):
    m = _trained(synthetic, bits, bt, backbone)
    engine = IntegerPropagationGNN(m.model, m.ops, gcn_is_conv=m.ops.conv_is_gcn)
    with torch.no_grad():
        fake, ints = m.model(m.x, m.ops), engine(m.x)
    agreement = float((fake.argmax(1) == ints.argmax(1)).float().mean())
    assert agreement >= 0.999
    assert float((fake - ints).abs().mean()) < 0.01 * float(fake.abs().mean()) + 1e-6


def test_integer_engine_follows_an_eight_bit_correction(synthetic):
    m = _trained(synthetic, 2, "bt*", correction_bits=8)
    engine = IntegerPropagationGNN(m.model, m.ops, gcn_is_conv=m.ops.conv_is_gcn)
    with torch.no_grad():
        fake, ints = m.model(m.x, m.ops), engine(m.x)
    assert float((fake.argmax(1) == ints.argmax(1)).float().mean()) >= 0.999
    assert float((fake - ints).abs().mean()) < 0.01 * float(fake.abs().mean()) + 1e-6


def test_without_vnni_eight_bit_weights_run_in_float_with_the_same_result(synthetic, monkeypatch):
    m = _trained(synthetic, 8, epochs=5)
    with torch.no_grad():
        fast = IntegerPropagationGNN(m.model, m.ops, gcn_is_conv=True)(m.x)
        monkeypatch.setattr(integer, "has_vnni", lambda: False)
        engine = IntegerPropagationGNN(m.model, m.ops, gcn_is_conv=True)
        assert engine.lin1.packed is None  # 2 · 255 · 127 > 32767: fbgemm could saturate
        guarded = engine(m.x)
    assert (fast.argmax(1) == guarded.argmax(1)).float().mean() >= 0.99


def test_saturation_check():
    assert integer.saturation_free(15, 127) or integer.has_vnni()
    assert integer.saturation_free(255, 15)


def test_integer_inference_through_predict(synthetic):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.lowbit import LowBit

    torch.manual_seed(0)
    ds = synthetic()
    m = LowBit(LowBit.Config(bits=4, integer_inference=True, propagation_steps=2), GCN(GCN.Config(hidden_channels=16)),
               TrainConfig(epochs=3), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    for b in m.batches(0):
        m.train_step(b)
    scores = m.predict(["test"])["test"].scores
    assert scores.shape == (ds.split["test"].numel(), 3) and torch.isfinite(scores).all()
