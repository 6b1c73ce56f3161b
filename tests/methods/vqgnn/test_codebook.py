"""VQ-GNN codebooks: the EMA update formula, error falling with k (Theorem 2), k > batch."""
from __future__ import annotations

import torch

from gnnbench.methods.vqgnn.batching import conv_graph
from gnnbench.methods.vqgnn.codebook import Codebook


def test_ema_update_equals_its_formula_by_hand():
    book = Codebook(num_nodes=4, num_codewords=2, feat_dim=2, grad_dim=1, decay=0.5, whitening=False)
    book.feat_sum.copy_(torch.tensor([[[2.0, 0.0], [0.0, 4.0]]]))
    book.grad_sum.copy_(torch.tensor([[[1.0], [2.0]]]))
    book.count.copy_(torch.tensor([[2.0, 2.0]]))
    zf = torch.tensor([[3.0, 1.0], [5.0, 1.0], [0.0, 6.0]])
    zg = torch.tensor([[1.0], [3.0], [4.0]])
    codes = torch.tensor([[0, 0, 1]])
    book.ema_update(torch.tensor([0, 1, 2]), zf, zg, codes=codes)
    # N_0 = .5*2 + .5*2 = 2;  M_0 = .5*[2,0] + .5*([3,1]+[5,1]) = [5, 1]  → codeword [2.5, .5]
    # N_1 = .5*2 + .5*1 = 1.5; M_1 = .5*[0,4] + .5*[0,6] = [0, 5]        → codeword [0, 10/3]
    assert torch.allclose(book.count, torch.tensor([[2.0, 1.5]]))
    assert torch.allclose(book.feature_codewords(), torch.tensor([[2.5, 0.5], [0.0, 10 / 3]]))
    # gradients: M_0 = .5*1 + .5*(1+3) = 2.5 → 1.25; M_1 = .5*2 + .5*4 = 3 → 2
    assert torch.allclose(book.gradient_codewords(), torch.tensor([[1.25], [2.0]]))
    assert book.assign[0, :3].tolist() == [0, 0, 1]


def test_nearest_codeword_in_joint_space():
    book = Codebook(num_nodes=2, num_codewords=2, feat_dim=1, grad_dim=1, whitening=False)
    book.feat_sum.copy_(torch.tensor([[[0.0], [0.0]]]))
    book.grad_sum.copy_(torch.tensor([[[0.0], [10.0]]]))
    codes = book.nearest(torch.tensor([[0.0]]), torch.tensor([[9.0]]))
    assert codes.tolist() == [[1]]


def test_chunked_assignment_equals_the_nearest_by_distance(monkeypatch):
    """The chunked ``‖c‖² − 2 z·c`` argmin picks the codeword at the least Euclidean distance,
    across chunk boundaries (a chunk of 3 rows here) and for every group."""
    from gnnbench.methods.vqgnn import codebook

    g = torch.Generator().manual_seed(0)
    z, c = torch.randn(3, 10, 4, generator=g) * 5 + 2, torch.randn(3, 7, 4, generator=g)
    monkeypatch.setattr(codebook, "_CHUNK", 3 * 3 * 7)
    codes = codebook._argmin_dist(z, c)
    assert codes.shape == (3, 10)
    assert torch.equal(codes, torch.cdist(z.double(), c.double()).argmin(-1))
    assert codebook._argmin_dist(z[:, :0], c).shape == (3, 0)


def _relative_error(k: int) -> float:
    from gnnbench.backbones.sage import SAGE
    from gnnbench.methods.vqgnn.model import VQModel

    g = torch.Generator().manual_seed(0)
    n = 200
    ei = torch.randint(0, n, (2, 1200), generator=g)
    x = torch.randn(n, 3, generator=g) @ torch.randn(3, 16, generator=g)  # low-dimensional structure
    torch.manual_seed(0)
    stack = SAGE(SAGE.Config(hidden_channels=8, dropout=0.0)).build(16, 4)
    exact = stack(x, ei).detach()
    model = VQModel(stack, n, k, None, 0.99, False)
    model.initialise(x, ei, 0.25, kmeans_iters=10, generator=torch.Generator().manual_seed(0))
    cg = conv_graph(stack, ei, n)
    out = model.infer(x, cg, list(torch.randperm(n, generator=g).split(50)))
    return float((out - exact).norm() / exact.norm())


def test_forward_error_falls_as_k_grows():
    errors = [_relative_error(k) for k in (2, 8, 32, 128)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.5 * errors[0]


def test_more_codewords_than_batch_nodes_does_not_crash(synthetic):
    from gnnbench.backbones.gcn import GCN
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.vqgnn import VQGNN

    ds = synthetic(num_nodes=60)
    method = VQGNN(VQGNN.Config(num_codewords=100, batch_size=16, batching="random", warmup_epochs=0, kmeans_iters=2),
                   GCN(), TrainConfig(), BudgetConfig())
    method.setup(ds, torch.device("cpu"))
    for epoch in (1, 2):
        for batch in method.batches(epoch):
            assert batch.num_nodes <= 16
            assert torch.isfinite(torch.tensor(method.train_step(batch)))
    scores = method.predict(["valid"])["valid"].scores
    assert scores.shape == (ds.split["valid"].numel(), 3) and torch.isfinite(scores).all()


def test_product_vq_groups_and_budget(synthetic):
    from gnnbench.backbones.sage import SAGE
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.vqgnn import VQGNN

    ds = synthetic()
    method = VQGNN(VQGNN.Config(num_codewords=8, group_size=4, batching="cluster"), SAGE(),
                   TrainConfig(), BudgetConfig(messages_per_batch=600))
    method.cache_dir = None
    method.setup(ds, torch.device("cpu"))
    assert [b.groups for b in method.model.books] == [4, 16]  # 16/4 and 64/4 feature columns
    for batch in method.batches(2):  # cluster batches
        method.train_step(batch)
    method = VQGNN(VQGNN.Config(num_codewords=8), SAGE(), TrainConfig(), BudgetConfig(messages_per_batch=600))
    method.setup(ds, torch.device("cpu"))
    messages = [b.num_messages for b in method.batches(1)]
    assert sum(messages) / len(messages) <= 600  # the budget holds on average over random batches


def test_product_vq_reconstructs_group_by_group_and_updates_each_group():
    # f = 5 feature columns in P = 3 groups of 2 (the last padded), e = 2 gradient columns (1 per group, the last empty)
    book = Codebook(num_nodes=3, num_codewords=2, feat_dim=5, grad_dim=2, groups=3, decay=0.5, whitening=False)
    zf = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0], [1.0, 2.0, 8.0, 9.0, 5.0]])
    zg = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    codes = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 1, 1]])  # [P, B]
    book.count.fill_(1e-9)  # no history: after one update codeword = mean of its rows
    book.feat_sum.zero_()
    book.grad_sum.zero_()
    book.ema_update(torch.tensor([0, 1, 2]), zf, zg, codes=codes)
    # node 2 is (group 0 → codeword 0 = mean of rows 0, 2), (group 1 → codeword 0 = mean of rows 1, 2), (group 2 → codeword 1 = mean of rows 1, 2)
    expect = torch.tensor([[1.0, 2.0, 8.0, 9.0, 7.5]])
    assert torch.allclose(book.reconstruct(book.codes_of(torch.tensor([2]))), expect, atol=1e-6)
    assert torch.allclose(book.reconstruct_grad(book.codes_of(torch.tensor([2]))), torch.tensor([[0.3, 0.5]]), atol=1e-6)
    assert book.feature_codewords().shape == (2, 5) and book.gradient_codewords().shape == (2, 2)


def test_kmeans_is_exact_when_a_group_has_few_distinct_rows():
    from gnnbench.methods.vqgnn.codebook import kmeans

    g = torch.Generator().manual_seed(0)
    rows = torch.randn(5, 3, generator=g)
    z = torch.stack([rows[torch.randint(0, 5, (40,), generator=g)],  # 5 distinct rows ≤ k: exact
                     torch.randn(40, 3, generator=g)])  # 40 distinct rows > k: Lloyd
    cent, codes = kmeans(z, 8, 3, g)
    assert torch.equal(cent[0][codes[0]], z[0])
    err = (cent[1][codes[1]] - z[1]).norm() / z[1].norm()
    assert 0 < err < 0.8


def test_distinct_rows_equals_torch_unique():
    from gnnbench.methods.vqgnn.codebook import _distinct_rows

    g = torch.Generator().manual_seed(0)
    sparse = (torch.rand(3000, 4, generator=g) < 0.05).float() * torch.randint(1, 4, (3000, 4), generator=g)
    signed_zero = torch.tensor([[0.0, 1.0], [-0.0, 1.0], [2.0, -0.0]])
    for z in (sparse, torch.randn(500, 3, generator=g), signed_zero):
        u1, i1 = torch.unique(z, dim=0, return_inverse=True)
        u2, i2 = _distinct_rows(z)
        assert torch.equal(u1, u2) and torch.equal(i1, i2)


def test_kept_input_rows_project_as_the_rebuilt_ones():
    g = torch.Generator().manual_seed(0)
    n, f = 400, 3000
    x = (torch.rand(n, f, generator=g) < 0.002).float()  # sparse: kept as CSR
    W = torch.randn(8, f, generator=g)
    nodes = torch.randint(0, n, (150,), generator=g)
    book = Codebook(n, 16, f, 4, groups=f // 4, whitening=False)
    book.initialise(x, 0.25, 2, g)
    book.cache_rows()  # sparse: kept as CSR
    rebuilt = book.reconstruct(book.codes_of(nodes)) @ W.t()
    assert torch.allclose(book.project_rows(nodes, W), rebuilt, atol=1e-5)
    buffers = sum(t.numel() * t.element_size() for t in book.buffers())
    assert book.nbytes() == buffers + sum(t.numel() * t.element_size() for t in book._cache)
    for zf in (torch.randn(n, 6, generator=g), torch.randn(1 << 14, 64, generator=g)):  # dense: not kept
        dense = Codebook(zf.size(0), 16, zf.size(1), 4, groups=zf.size(1) // 4, whitening=False)
        dense.initialise(zf, 0.25, 0, g)
        dense.cache_rows()
        assert dense.project_rows(nodes, W[:, :zf.size(1)]) is None  # rebuilt by the caller
        assert dense.nbytes() == sum(t.numel() * t.element_size() for t in dense.buffers())


def test_whitening_with_padded_groups_assigns_every_group_by_distance():
    """feat_dim=5 in groups of 2 pads the last group with one column; with whitening on, that
    column must normalise to 0 (it was 0/0 = NaN, and every row of the group chose codeword 0)."""
    torch.manual_seed(0)
    n, k = 64, 4
    book = Codebook(num_nodes=n, num_codewords=k, feat_dim=5, grad_dim=3, groups=3, whitening=True)
    zf, zg = torch.randn(n, 5) * 3 + 1, torch.randn(n, 3)
    book._update_stats(zf, zg)
    mean, std = book._moments(False)
    assert torch.isfinite(std).all() and (std > 0).all()
    xf, xg = book._normalise(zf, zg)
    assert torch.isfinite(xf).all() and torch.isfinite(xg).all()
    assert xf[2, :, 1].abs().max() == 0  # the padded column of the last group
    # the codewords: k nodes of distinct rows; each node then takes its nearest in every group
    book.feat_sum.copy_(xf[:, :k])
    book.grad_sum.copy_(xg[:, :k])
    book.count.fill_(1.0)
    codes = book.nearest(zf, zg)
    assert codes[:, :k].tolist() == [list(range(k))] * 3
    dist = ((torch.cat([xf, xg], -1)[:, :, None] - torch.cat([xf[:, :k], xg[:, :k]], -1)[:, None]) ** 2).sum(-1)
    assert torch.equal(codes, dist.argmin(-1))
    assert codes[2].unique().numel() > 1  # the padded group is not collapsed onto codeword 0


def test_preflight_setup_sizes_the_batch_and_skips_the_initialisation(synthetic):
    from gnnbench.backbones.sage import SAGE
    from gnnbench.config import BudgetConfig, TrainConfig
    from gnnbench.methods.vqgnn import VQGNN

    ds = synthetic()
    trial = VQGNN(VQGNN.Config(num_codewords=8), SAGE(), TrainConfig(), BudgetConfig(messages_per_batch=600))
    trial.setup(ds, torch.device("cpu"))
    check = VQGNN(VQGNN.Config(num_codewords=8), SAGE(), TrainConfig(), BudgetConfig(messages_per_batch=600))
    check.preflight = True  # as the runner's preflight sets it
    check.setup(ds, torch.device("cpu"))
    assert check.batch_size == trial.batch_size  # the same batch as the trial's
    assert hasattr(trial, "model") and not hasattr(check, "model")  # but no codebooks were built
