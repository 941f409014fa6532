"""The low-level layer against numpy: tensors, ops, optimizers, schedules,
the trainer, errors and object lifetimes. Tolerances |got - want| <=
atol + rtol |want| are stated per test (float32 on OpenCL devices)."""
import gc

import numpy as np
import pytest

import cltrain

RNG = np.random.default_rng(3)


def test_library_and_devices():
    assert cltrain.version().count(".") == 2
    for d in cltrain.devices():
        assert d.name and d.type in ("cpu", "gpu", "other") and d.max_alloc_bytes > 0
        assert d.driver and isinstance(d.tuned, str)


def test_variants_reproduce_a_context(device):
    with cltrain.Context(device) as ctx:
        variant = ctx.variant
        if ctx.is_reference:
            assert variant == "reference"
            return
        assert variant.startswith(ctx.profile + ":") and "step_gpu=" in variant
    with cltrain.Context(device, variant=variant) as again:
        assert again.variant == variant
    with cltrain.Context(device, variant="gpu:step_row_group=64") as gpu:
        assert gpu.profile == "gpu" and ",step_row_group=64," in gpu.variant
    with pytest.raises(ValueError) as e:
        cltrain.Context(device, variant="cpu:warp_speed=9")
    assert "'warp_speed' names no profile field" in e.value.detail


def test_tensors_round_trip_and_convert(ctx):
    a = RNG.normal(size=(7, 3)).astype(np.float32)
    t = ctx.tensor(a)
    assert t.shape == (7, 3) and t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), a)
    # float64 is converted once to float32; integers to int32; 1-D is a column
    np.testing.assert_array_equal(ctx.tensor(a.astype(np.float64)).numpy(), a)
    labels = ctx.tensor(np.array([3, 1, 2], dtype=np.int64))
    assert labels.dtype == np.int32 and labels.shape == (3, 1)
    # a non-contiguous view is copied, not misread
    np.testing.assert_array_equal(ctx.tensor(a[:, ::2]).numpy(), a[:, ::2])
    with pytest.raises(ValueError):
        t.write(np.zeros((3, 7), np.float32))


def test_linear_forward_backward_match_numpy(ctx):
    X = RNG.normal(size=(93, 10)).astype(np.float32)
    W = RNG.normal(size=(10, 7)).astype(np.float32)
    b = RNG.normal(size=(1, 7)).astype(np.float32)
    tX, tW, tb, tS = ctx.tensor(X), ctx.tensor(W), ctx.tensor(b), ctx.empty(93, 7)
    cltrain.linear_forward(ctx, tX, tW, tb, tS)
    want = X.astype(np.float64) @ W + b
    np.testing.assert_allclose(tS.numpy(), want, rtol=1e-5, atol=1e-5)
    dS = RNG.normal(size=(93, 7)).astype(np.float32)
    tdW, tdb = ctx.empty(10, 7), ctx.empty(1, 7)
    cltrain.linear_backward(ctx, tX, tW, ctx.tensor(dS), tdW, tdb)
    np.testing.assert_allclose(tdW.numpy(), X.T.astype(np.float64) @ dS, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(tdb.numpy()[0], dS.sum(axis=0), rtol=1e-5, atol=1e-4)


def test_cross_entropy_and_its_gradient_match_numpy(ctx):
    S = RNG.normal(size=(40, 5)).astype(np.float32)
    y = RNG.integers(0, 5, size=40)
    dS = ctx.empty(40, 5)
    got = cltrain.loss(ctx, cltrain.loss_desc("cross-entropy", label_smoothing=0.1),
                       ctx.tensor(S), ctx.tensor(y), dS)
    s = S.astype(np.float64)
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    t = np.full((40, 5), 0.1 / 5) + 0.9 * np.eye(5)[y]
    want = -(t * np.log(p)).sum(1).mean()
    assert abs(got - want) <= 1e-6 + 1e-5 * abs(want)
    np.testing.assert_allclose(dS.numpy(), (p - t) / 40, rtol=1e-4, atol=1e-6)


def test_regularize_and_accuracy(ctx):
    W = RNG.normal(size=(6, 3)).astype(np.float32)
    pen = cltrain.regularize(ctx, ctx.tensor(W), l1=0.1, l2=0.2)
    want = 0.1 * np.abs(W).sum() + 0.1 * (W.astype(np.float64) ** 2).sum()
    assert abs(pen - want) <= 1e-6 + 1e-5 * want
    S = np.array([[0, 1], [3, 2], [1, 5]], np.float32)
    assert cltrain.accuracy(ctx, ctx.tensor(S), ctx.tensor(np.array([1, 0, 0]))) == 2


def test_optimizer_steps_as_torch_sgd_with_momentum(ctx):
    p0 = RNG.normal(size=(4, 3)).astype(np.float32)
    g = RNG.normal(size=(4, 3)).astype(np.float32)
    opt = cltrain.Optimizer(ctx, "sgd", lr=0.1, momentum=0.9)
    p, tg = ctx.tensor(p0), ctx.tensor(g)
    opt.step(p, tg)
    opt.step(p, tg)
    # PyTorch: buf = g, then buf = 0.9 buf + g; p -= lr buf
    want = p0 - 0.1 * g - 0.1 * (0.9 * g + g)
    np.testing.assert_allclose(p.numpy(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(opt.state(p, "momentum_buffer"), 1.9 * g, rtol=1e-6, atol=1e-6)
    assert opt.stats(p)["steps"] == 2
    with pytest.raises(TypeError):
        cltrain.Optimizer(ctx, "adam", nonsense=1)


def test_schedules():
    s = cltrain.Schedule("cosine", base_lr=1.0, total_steps=10)
    assert cltrain.schedule_lr(s, 0) == 1.0 and abs(cltrain.schedule_lr(s, 5) - 0.5) < 1e-12
    assert cltrain.schedule_lr(cltrain.Schedule("step", base_lr=1.0, step_size=2, gamma=0.5), 4) == 0.25


def test_trainer_learns_and_is_deterministic(ctx):
    x = RNG.normal(size=(300, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    runs = []
    for _ in range(2):
        opt = cltrain.optim_desc("adam", lr=0.05)
        with cltrain.Trainer(ctx, x, y, 2, optim=opt, batch=32, epochs=5, seed=4,
                             x_test=x, y_test=y) as tr:
            for _ in range(5):
                st = tr.epoch()
            runs.append(tr.params())
    assert st["test_accuracy"] > 0.95
    np.testing.assert_array_equal(runs[0][0], runs[1][0])  # same bits
    with pytest.raises(cltrain.LabelError) as e:
        cltrain.Trainer(ctx, x, np.full(300, 2), 2)
    assert e.value.name == "CLT_ERR_LABEL" and "label 2 at row 0" in e.value.detail


def test_trainer_takes_sparse_rows_and_streams(ctx):
    """A scipy sparse matrix trains as sparse rows, to the dense run's
    weights up to float32 rounding; streamed (from another sparse format)
    it gives the resident sparse run's bits."""
    sp = pytest.importorskip("scipy.sparse")
    x = RNG.normal(size=(300, 40)).astype(np.float32)
    x[RNG.random(size=x.shape) < 0.8] = 0
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    params = {}
    for name, data, stream in (("dense", x, False), ("csr", sp.csr_matrix(x), False),
                               ("csc, streamed", sp.csc_matrix(x), True)):
        opt = cltrain.optim_desc("sgd", lr=0.5)
        with cltrain.Trainer(ctx, data, y, 2, optim=opt, batch=32, epochs=3, seed=4,
                             stream=stream) as tr:
            for _ in range(3):
                tr.epoch()
            params[name] = tr.params()
    np.testing.assert_allclose(params["csr"][0], params["dense"][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(params["csc, streamed"][0], params["csr"][0])
    np.testing.assert_array_equal(params["csc, streamed"][1], params["csr"][1])


def test_errors_carry_status_and_detail(ctx):
    a, b = ctx.tensor(np.zeros((2, 3), np.float32)), ctx.empty(2, 2)
    with pytest.raises(cltrain.ShapeError) as e:
        cltrain.linear_forward(ctx, a, a, None, b)
    assert isinstance(e.value, cltrain.CltrainError) and isinstance(e.value, ValueError)
    assert e.value.name == "CLT_ERR_SHAPE" and "linear_forward" in e.value.detail
    with pytest.raises(cltrain.NoDeviceError):
        cltrain.Context("no such device anywhere")
    with pytest.raises(ValueError):
        cltrain.loss_desc("no such loss")


def test_closed_objects_raise_and_collection_frees(device):
    ctx = cltrain.Context(device)
    t = ctx.tensor(np.ones((2, 2), np.float32))
    t.close()
    t.close()  # again: nothing
    with pytest.raises(cltrain.ClosedError):
        t.numpy()
    kept = ctx.tensor(np.ones((3, 1), np.float32))
    ctx.close()
    with pytest.raises(cltrain.ClosedError):
        ctx.empty(1, 1)
    # the library keeps a context until its last tensor: this one is intact
    np.testing.assert_array_equal(kept.numpy(), np.ones((3, 1), np.float32))
    for _ in range(200):  # freed by the collector, not leaked or crashing
        cltrain.Context(device).tensor(np.zeros((10, 10), np.float32))
    gc.collect()


def test_groups_gathers_copies_and_timings(device):
    with cltrain.Context(device, record_timings=True) as ctx:
        opt = cltrain.Optimizer(ctx, "sgd", lr=0.5)
        (w, b), (gw, gb) = opt.add_group([(3, 2), (1, 2)])
        gw.write(np.ones((3, 2), np.float32))
        gb.write(np.full((1, 2), 2.0, np.float32))
        opt.apply_schedule(cltrain.Schedule("constant", base_lr=0.5), 0)
        opt.step_all()
        np.testing.assert_array_equal(w.numpy(), np.full((3, 2), -0.5, np.float32))
        np.testing.assert_array_equal(b.numpy(), np.full((1, 2), -1.0, np.float32))
        src = ctx.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
        dst = ctx.empty(2, 3)
        dst.gather_rows(src, ctx.tensor(np.array([3, 1], np.int32)))
        np.testing.assert_array_equal(dst.numpy(), src.numpy()[[3, 1]])
        again = ctx.empty(2, 3)
        again.copy_from(dst)
        np.testing.assert_array_equal(again.numpy(), dst.numpy())
        names = [t[0] for t in ctx.timings()]
        assert "read" in names and all(t[2] >= 1 for t in ctx.timings())
        ctx.timings_reset()
        assert ctx.timings() == [] or all(t[2] == 0 for t in ctx.timings())
