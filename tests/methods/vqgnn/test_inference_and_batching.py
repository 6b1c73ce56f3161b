"""VQ-GNN: inference through per-pass sender tables, codebook bytes, ``cont`` walk batches, the
mini-batch initialisation, relative VQ errors."""
from __future__ import annotations

import pytest
import torch

from gnnbench.methods.vqgnn.batching import conv_graph, epoch_batches, overlapping_batches
from gnnbench.methods.vqgnn.model import VQModel


def _model(name: str, group_size, n: int = 120, f: int = 12):
    from gnnbench import registry

    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, n, (2, 700), generator=g)
    ei = torch.cat([ei, ei.flip(0)], 1)
    x = torch.randn(n, f, generator=g)
    torch.manual_seed(0)
    bb = registry.load("backbones", name)
    stack = bb(bb.Config(hidden_channels=8, dropout=0.0)).build(f, 3).eval()
    model = VQModel(stack, n, 6, group_size, 0.99, False).eval()
    model.initialise(x, ei, 0.25, 2, torch.Generator().manual_seed(0))
    cg = conv_graph(stack, ei, n)
    return model, x, ei, cg, g


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("group_size", [None, 4])
def test_inference_from_sender_tables_equals_batch_by_batch_projection(name, group_size):
    """Layer-by-layer inference gathering from each layer's table (merged form with one group)
    gives what running every batch through all layers, projecting its own senders, gives."""
    model, x, _, cg, g = _model(name, group_size)
    nodes = list(torch.randperm(x.size(0), generator=g).split(32))
    nbs = epoch_batches(cg, nodes)
    out = model.infer(x, cg, nodes, measure=True)
    ref = torch.zeros_like(out)
    with torch.no_grad():
        for nb in nbs:
            model.sketch_batch(nb, with_blue=False)
            ref[nb.nodes] = model.forward_batch(x[nb.nodes], nb, use_blue=False)
    assert torch.allclose(out, ref, atol=1e-5)
    assert len(model.vq_error) == 2 and all(0 <= e < 1 for e in model.vq_error)
    assert model.vq_error[0] > 0  # 6 codewords cannot describe 120 random rows


@pytest.mark.parametrize("name", ["gcn", "sage"])
@pytest.mark.parametrize("group_size", [None, 4])
def test_whole_graph_inference_in_small_chunks_equals_batch_by_batch(name, group_size, monkeypatch):
    """Fixed convolutions take the messages by sender in chunks: chunks of 7 senders and 33
    messages (crossing every boundary) give what every batch run through all layers gives, and
    a node that is in no batch gets 0."""
    from gnnbench.methods.vqgnn import layers

    model, x, _, cg, g = _model(name, group_size)
    monkeypatch.setattr(layers, "_SENDERS", 7)
    monkeypatch.setattr(layers, "_MESSAGES", 33)
    nodes = list(torch.randperm(x.size(0), generator=g)[:-5].split(32))  # 5 nodes in no batch
    out = model.infer(x, cg, nodes)
    ref = torch.zeros_like(out)
    with torch.no_grad():
        for nb in epoch_batches(cg, nodes):
            model.sketch_batch(nb, with_blue=False)
            ref[nb.nodes] = model.forward_batch(x[nb.nodes], nb, use_blue=False)
    assert torch.allclose(out, ref, atol=1e-5)
    missing = torch.ones(x.size(0), dtype=torch.bool)
    missing[torch.cat(nodes)] = False
    assert int(missing.sum()) == 5 and bool((out[missing] == 0).all())


def test_aggregating_codeword_rows_before_projecting_equals_projecting_senders():
    """A SAGE batch with more out-of-batch senders than nodes takes ``(C_out R X̃) Wᵀ`` (the
    aggregates projected): its output and the weights' gradient equal those of projecting every
    sender's codeword row, ``C_out (R X̃ Wᵀ)``."""
    from gnnbench.methods.vqgnn.layers import _stacked_weights, approx_layer

    model, x, _, cg, g = _model("sage", 4)
    stack, book = model.stack, model.books[1]
    nodes = torch.randperm(x.size(0), generator=g)[:10]
    nb = epoch_batches(cg, [nodes])[0]
    assert nb.out_nodes.numel() > nodes.numel() and book.groups > 1
    red = book.codes_of(nb.out_nodes)
    h = torch.randn(nodes.numel(), book.feat_dim, generator=g)
    out, _ = approx_layer(stack, 1, h, nb, red, None, book)
    grad = torch.autograd.grad(out.pow(2).sum(), stack.conv_weights(1))
    W, S = _stacked_weights(stack, 1)
    f = W.size(0) // S
    ref = (torch.sparse.mm(nb.matrix("in", S), (h @ W.t()).reshape(-1, f))
           + torch.sparse.mm(nb.matrix("out", S), (book.reconstruct(red) @ W.t()).reshape(-1, f)))
    bias = stack.conv_bias(1)
    ref = ref + bias if bias is not None else ref
    ref_grad = torch.autograd.grad(ref.pow(2).sum(), stack.conv_weights(1))
    assert torch.allclose(out, ref, atol=1e-5)
    assert all(torch.allclose(a, r, atol=1e-4) for a, r in zip(grad, ref_grad))


def test_relative_error_is_zero_when_codewords_are_exact():
    from gnnbench.methods.vqgnn.codebook import Codebook

    n = 10
    book = Codebook(n, n, 3, 2, whitening=False)
    z = torch.randn(n, 3)
    book.load_exact(z, torch.zeros(n, 2))
    assert book.relative_error(z, book.assign.long()) < 1e-6
    assert book.relative_error(z, torch.zeros(1, n, dtype=torch.long)) > 0.1


def test_codebook_bytes_count_the_kept_input_rows(synthetic):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.vqgnn import VQGNN

    ds = synthetic(num_nodes=80)
    m = VQGNN(VQGNN.Config(num_codewords=8, batch_size=32, batching="random"), GCN(), TrainConfig(), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    m.predict(["test"])
    rep = m.report()
    buffers = sum(t.numel() * t.element_size() for t in m.model.books.buffers())
    assert rep["codebook_bytes"] == buffers  # dense input rows are not kept
    book = m.model.books[0]
    assert book._cache is None
    assert 0 < rep["codeword_message_fraction"] < 1
    assert len(rep["vq_relative_error"]) == len(m.model.books)


def _walk_graph(n=200):
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, n, (2, 800), generator=g)
    return torch.cat([ei, ei.flip(0)], 1), g


def test_cont_walk_batches_follow_the_edges():
    from torch_geometric.sampler import NodeSamplerInput

    from gnnbench.methods.vqgnn.walk import ContinuousWalkSampler, cont_node_batches

    n = 200
    ei, g = _walk_graph(n)
    sampler = ContinuousWalkSampler(ei, n, walk_length=3, generator=g)
    out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(20)))
    steps = out.node.split(torch.bincount(out.batch).tolist())
    assert len(steps) == 4 and torch.equal(steps[0], torch.arange(20))
    adj = torch.zeros(n, n, dtype=torch.bool)
    adj[ei[0], ei[1]] = True
    for prev, nxt in zip(steps, steps[1:]):
        assert nxt.numel() <= 20 and nxt.unique().numel() == nxt.numel()
        assert adj[prev][:, nxt].any(0).all()  # every node of a batch neighbours the previous batch
    batches = cont_node_batches(sampler, n, 50, g)
    assert len(batches) == 4 * 4 and all(b.numel() <= 50 for b in batches)
    with pytest.raises(ValueError, match="walk_length=-1"):
        ContinuousWalkSampler(ei, n, walk_length=-1)


def test_overlapping_batches_split_messages_as_epoch_batches():
    from gnnbench.backbones.sage import SAGE

    n = 200
    ei, g = _walk_graph(n)
    stack = SAGE(SAGE.Config(hidden_channels=8)).build(4, 3)
    cg = conv_graph(stack, ei, n)
    nodes = list(torch.randperm(n, generator=g).split(64))
    for a, b in zip(epoch_batches(cg, nodes), list(overlapping_batches(cg, nodes))):
        for kind in ("in", "out", "bw"):
            key = lambda nb: sorted(zip(*(getattr(nb, f"{kind}_{c}").tolist() for c in ("src", "dst", "s"))))
            assert key(a) == key(b), kind
    shared = list(overlapping_batches(cg, [torch.arange(0, 60), torch.arange(30, 90)]))  # overlap 30..59
    assert shared[1].nodes.numel() == 60 and shared[1].num_messages > 0


def test_cont_batching_trains_and_a_batch_without_training_nodes_takes_no_step(synthetic):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.vqgnn import VQGNN
    from gnnbench.training import NO_STEP_LOSS

    ds = synthetic(num_nodes=150)
    m = VQGNN(VQGNN.Config(num_codewords=8, batch_size=40, batching="cont", walk_length=2, warmup_epochs=0),
              GCN(), TrainConfig(), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    batches = list(m.batches(1))
    assert len(batches) == 3 * 4  # ceil(150 / 40) seed batches, each with 2 walk batches
    for b in batches:
        assert torch.isfinite(torch.tensor(m.train_step(b)))
    m.train_mask[:] = False  # no training node anywhere: no optimiser step, weights unchanged
    before = [p.detach().clone() for p in m.model.parameters()]
    assert m.train_step(next(iter(m.batches(2)))) == NO_STEP_LOSS
    assert all(torch.equal(a, p) for a, p in zip(before, m.model.parameters()))


def test_minibatch_initialisation_is_exact_on_few_distinct_rows():
    """Binary inputs in 2-column groups have at most 4 distinct rows per group: the mini-batch
    initialisation (random batch rows, online k-means) quantizes the input layer exactly."""
    model, x, _, cg, g = _model("gcn", 2, f=6)
    x = (torch.rand(x.shape, generator=g) < 0.3).float()
    passes = [epoch_batches(cg, list(torch.randperm(x.size(0), generator=g).split(40))) for _ in range(2)]
    model.initialise_minibatch(x, passes, 40 / x.size(0), g)
    book = model.books[0]
    assert book.relative_error(x, book.assign.long()) < 1e-6
    hidden = model.books[1]
    assert torch.isfinite(hidden.feature_codebook()).all() and (hidden.count > 0).all()
    assert hidden.assign.long().unique().numel() > 1


@pytest.mark.parametrize("passes", [1, 2])
def test_minibatch_initialisation_from_lazy_passes_equals_lists(passes):
    """Passes whose batches are built when reached (:class:`EpochPlan`, the setup's) give the
    codebooks that lists of ready batches give, with one pass (read twice) and with two."""
    from gnnbench.methods.vqgnn.batching import EpochPlan

    books = []
    for lazy in (False, True):
        model, x, _, cg, _ = _model("sage", 4)
        g = torch.Generator().manual_seed(3)
        nodes = [list(torch.randperm(x.size(0), generator=g).split(40)) for _ in range(passes)]
        plans = [EpochPlan(cg, b) if lazy else epoch_batches(cg, b) for b in nodes]
        model.initialise_minibatch(x, plans, 40 / x.size(0), torch.Generator().manual_seed(5))
        books.append([(b.feature_codebook(), b.assign.clone()) for b in model.books])
    for (c0, a0), (c1, a1) in zip(*books):
        assert torch.equal(c0, c1) and torch.equal(a0, a1)


def test_nearest_feature_lookup_equals_distances():
    """Groups whose rows all equal codewords are looked up, the others measured: same indices."""
    from gnnbench.methods.vqgnn.codebook import Codebook

    g = torch.Generator().manual_seed(0)
    book = Codebook(100, 6, 6, 2, groups=3, whitening=False)
    pats = (torch.rand(3, 4, 2, generator=g) < 0.5).float()
    book.feat_sum.copy_(torch.cat([pats, pats[:, :2]], 1))  # duplicate codewords 4, 5 = 0, 1
    book.count.fill_(1.0)
    xf = pats[:, torch.randint(0, 4, (100,), generator=g)]  # every row a codeword...
    xf[2, :5] += 0.3  # ...but in group 2, where the probed first rows miss
    xf[1, 90] += 0.3  # and in group 1, past the probe: the sort finds it
    assert torch.equal(book.nearest_feature(xf), book._nearest(xf, None))


def test_nearest_reassignment_at_inference_lowers_every_layers_vq_error(synthetic):
    """``infer_assign = "nearest"`` re-assigns each node to its nearest feature codewords under the
    final weights: without whitening that minimises each group's distance, so every layer's
    relative VQ error is at most the stored assignments' (which were set under older weights), and
    lower somewhere after training; ``"stored"`` reproduces the training assignments."""
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.vqgnn import VQGNN

    torch.manual_seed(0)
    ds = synthetic(num_nodes=200)
    m = VQGNN(VQGNN.Config(num_codewords=8, batch_size=50, batching="random", whitening=False,
                           infer_assign="stored"), GCN(GCN.Config(num_layers=3)), TrainConfig(), BudgetConfig())
    m.setup(ds, torch.device("cpu"))
    for e in range(4):
        for b in m.batches(e):
            m.train_step(b)
    stored_codes = [b.assign.clone() for b in m.model.books]
    stored = m.predict(["test"])["test"].scores
    eps_stored = m.report()["vq_relative_error"]
    m.config = m.config.model_copy(update={"infer_assign": "nearest"})
    nearest = m.predict(["test"])["test"].scores
    eps_nearest = m.report()["vq_relative_error"]
    assert all(torch.equal(a, b.assign) for a, b in zip(stored_codes, m.model.books))  # nothing stored changes
    assert all(n <= s + 1e-6 for n, s in zip(eps_nearest, eps_stored))
    assert any(n < s - 1e-3 for n, s in zip(eps_nearest, eps_stored))
    assert not torch.allclose(stored, nearest)
    m.config = m.config.model_copy(update={"infer_assign": "stored"})
    assert torch.equal(m.predict(["test"])["test"].scores, stored)
