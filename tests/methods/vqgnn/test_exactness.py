"""VQ-GNN exactness: with one codeword per node holding its exact feature and gradient, the
approximated forward (Eq. (6)) and backward (Eq. (7)) of Ding et al. 2021 equal full-graph ones."""
from __future__ import annotations

import pytest
import torch

from gnnbench.backbones.gat import GAT
from gnnbench.backbones.gcn import GCN
from gnnbench.backbones.sage import SAGE
from gnnbench.methods.vqgnn.batching import conv_graph, epoch_batches
from gnnbench.methods.vqgnn.layers import approx_layer, gat_aux
from gnnbench.methods.vqgnn.model import VQModel

N, F_IN = 40, 12


def _stack(name: str):
    torch.manual_seed(0)
    if name == "gcn":
        return GCN(GCN.Config(hidden_channels=10, dropout=0.0)).build(F_IN, 5)
    if name == "sage":
        return SAGE(SAGE.Config(hidden_channels=10, dropout=0.0)).build(F_IN, 5)
    return GAT(GAT.Config(hidden_channels=4, heads=3, out_heads=2, dropout=0.0,
                          attention_dropout=0.0)).build(F_IN, 5)


def _graph():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(0, N, (160,), generator=g)
    dst = torch.randint(0, N, (160,), generator=g)
    ei = torch.unique(torch.stack([src, dst]), dim=1)  # directed: C is not symmetric
    x = torch.randn(N, F_IN, generator=g)
    return x, ei


def _exact(stack, x, ei):
    """Full-graph forward with a loss on every node; every layer's input, output and gradients."""
    xs, hs = [x.clone().requires_grad_(True)], []
    h = xs[0]
    for i, conv in enumerate(stack.convs):
        out = conv(h, ei)
        out.retain_grad()
        hs.append(out)
        if i < stack.num_layers - 1:
            h = stack.act(out)
            h.retain_grad()
            xs.append(h)
    w = torch.randn(hs[-1].shape, generator=torch.Generator().manual_seed(2))
    (hs[-1] * w).sum().backward()
    return xs, hs, w


def _full_gat_aux(stack, i, x_full, cg, grad):
    nb = epoch_batches(cg, [torch.arange(N)])[0]
    red = torch.zeros(1, 0, dtype=torch.long)  # the whole graph is one batch: no red message
    att = stack.attention(i)
    with torch.no_grad():
        _, aux = approx_layer(stack, i, x_full, nb, red, None, _dummy_book(att, x_full))
    return gat_aux(att, grad, aux)


def _dummy_book(att, x):
    from gnnbench.methods.vqgnn.codebook import Codebook

    return Codebook(N, 1, x.size(1), att.heads * att.channels + 2 * att.heads)


def _load(model, stack, xs, hs, cg):
    for i, book in enumerate(model.books):
        g = hs[i].grad.detach()
        if stack.has("attention"):
            g = torch.cat([g, _full_gat_aux(stack, i, xs[i].detach(), cg, g)], 1)
        book.load_exact(xs[i].detach(), g)


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat"])
def test_exact_when_every_node_has_its_codeword(kind):
    stack = _stack(kind)
    x, ei = _graph()
    xs, hs, w = _exact(stack, x, ei)
    model = VQModel(stack, N, N, None, 0.99, True)
    cg = conv_graph(stack, ei, N)
    _load(model, stack, xs, hs, cg)
    batch_nodes = torch.randperm(N, generator=torch.Generator().manual_seed(3))[:13]
    nb = epoch_batches(cg, [batch_nodes])[0]
    model.sketch_batch(nb, with_blue=True)
    assert nb.out_src.numel() > 0 and nb.bw_src.numel() > 0  # the batch has out-of-batch messages

    # one layer at a time: forward Eq. (6) and the gradient wrt X_B of Eq. (7)
    for i, book in enumerate(model.books):
        xb = xs[i].detach()[batch_nodes].requires_grad_(True)
        h, _ = approx_layer(stack, i, xb, nb, nb.red[i], nb.blue[i], book)
        assert (h - hs[i].detach()[batch_nodes]).abs().max() < 1e-5
        (h * hs[i].grad[batch_nodes]).sum().backward()
        assert torch.allclose(xb.grad, xs[i].grad[batch_nodes], atol=1e-5, rtol=1e-4)

    # the whole stack on the batch alone: outputs, and the gradient reaching X_B through 2 layers
    model.train()
    xb = x[batch_nodes].clone().requires_grad_(True)
    out = model.forward_batch(xb, nb, use_blue=True)
    assert (out - hs[-1].detach()[batch_nodes]).abs().max() < 1e-5
    (out * w[batch_nodes]).sum().backward()
    assert torch.allclose(xb.grad, xs[0].grad[batch_nodes], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat"])
def test_without_blue_messages_the_gradient_is_wrong(kind):
    """Control: Eq. (7)'s blue term matters (the exactness above is not vacuous)."""
    stack = _stack(kind)
    x, ei = _graph()
    xs, hs, w = _exact(stack, x, ei)
    model = VQModel(stack, N, N, None, 0.99, True)
    cg = conv_graph(stack, ei, N)
    _load(model, stack, xs, hs, cg)
    batch_nodes = torch.arange(0, N, 3)
    nb = epoch_batches(cg, [batch_nodes])[0]
    model.sketch_batch(nb, with_blue=False)
    xb = xs[1].detach()[batch_nodes].requires_grad_(True)
    h, _ = approx_layer(stack, 1, xb, nb, nb.red[1], None, model.books[1])
    (h * hs[1].grad[batch_nodes]).sum().backward()
    assert (xb.grad - xs[1].grad[batch_nodes]).abs().max() > 1e-3
