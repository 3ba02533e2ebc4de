"""fluid.nets composites: the ops they build and the values they compute."""

import numpy as np
import pytest

import minigraph as mg


def _run(build, feeds, seed=0):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        outs = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    values = exe.run(main, feed=feeds, fetch_list=list(outs), scope=scope)
    return main, scope, values


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_simple_img_conv_pool_is_conv_then_pool():
    x = np.random.default_rng(0).normal(size=(2, 1, 8, 8)).astype("float32")

    def build():
        img = mg.layers.data("img", [1, 8, 8])
        a = mg.nets.simple_img_conv_pool(img, 3, 3, pool_size=2, pool_stride=2, act="relu", use_cudnn=True)
        conv = mg.layers.conv2d(img, 3, 3, act="relu", param_attr="conv2d_0.w_0", bias_attr="conv2d_0.b_0")
        b = mg.layers.pool2d(conv, 2, pool_stride=2)
        return a, b

    main, _, (a, b) = _run(build, {"img": x})
    assert a.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(a, b)
    assert [op.type for op in main.global_block().ops[:4]] == ["conv2d", "elementwise_add", "relu", "pool2d"]


def test_img_conv_group_with_batch_norm_and_dropout():
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype("float32")

    def build():
        img = mg.layers.data("img", [3, 8, 8])
        out = mg.nets.img_conv_group(
            img,
            [4, 4],
            pool_size=2,
            pool_stride=2,
            conv_act="relu",
            conv_with_batchnorm=True,
            conv_batchnorm_drop_rate=[0.3, 0.0],
        )
        return (out,)

    main, _, (out,) = _run(build, {"img": x})
    types = [op.type for op in main.global_block().ops]
    assert types == [
        "conv2d",
        "elementwise_add",
        "batch_norm",
        "relu",
        "dropout",
        "conv2d",
        "elementwise_add",
        "batch_norm",
        "relu",
        "pool2d",
    ]
    assert out.shape == (2, 4, 4, 4) and (out >= 0).all()
    with pytest.raises(mg.GraphBuildError, match="3 entries for 2 convolutions"):
        with mg.program_guard(mg.Program(), mg.Program()):
            mg.nets.img_conv_group(mg.layers.data("i", [3, 8, 8]), [4, 4], 2, conv_padding=[1, 1, 1])


def test_img_conv_group_without_batch_norm_keeps_the_act_on_the_conv():
    with mg.program_guard(mg.Program(), mg.Program()):
        out = mg.nets.img_conv_group(mg.layers.data("i", [3, 8, 8]), [2], 2, pool_stride=2, conv_act="relu")
        types = [op.type for op in out.block.ops]
    assert types == ["conv2d", "elementwise_add", "relu", "pool2d"]


def test_glu():
    x = np.random.default_rng(2).normal(size=(3, 6)).astype("float32")
    _, _, (out,) = _run(lambda: (mg.nets.glu(mg.layers.data("x", [6]), dim=1),), {"x": x})
    np.testing.assert_allclose(out, x[:, :3] / (1 + np.exp(-x[:, 3:])), rtol=1e-5)


def test_scaled_dot_product_attention_one_head():
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 6))

    def build():
        qs, ks, vs = (mg.layers.data(n, s, "float64") for n, s in (("q", [3, 4]), ("k", [5, 4]), ("v", [5, 6])))
        return (mg.nets.scaled_dot_product_attention(qs, ks, vs),)

    _, _, (out,) = _run(build, {"q": q, "k": k, "v": v})
    want = _softmax(q @ k.transpose(0, 2, 1) / 2.0) @ v
    np.testing.assert_allclose(out, want, rtol=1e-10)


def test_scaled_dot_product_attention_two_heads_projects_and_splits():
    rng = np.random.default_rng(4)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 4))

    def build():
        qs, ks, vs = (mg.layers.data(n, s, "float64") for n, s in (("q", [3, 4]), ("k", [5, 4]), ("v", [5, 4])))
        return (mg.nets.scaled_dot_product_attention(qs, ks, vs, num_heads=2),)

    main, scope, (out,) = _run(build, {"q": q, "k": k, "v": v})
    w = {p.name: np.array(scope.find_var(p.name).get_tensor()) for p in main.all_parameters()}
    pq, pk, pv = (x @ w[f"fc_{i}.w_0"] + w[f"fc_{i}.b_0"] for i, x in enumerate((q, k, v)))

    def heads(t):
        return t.reshape(2, t.shape[1], 2, 2).transpose(0, 2, 1, 3)

    ctx = _softmax(heads(pq) @ heads(pk).transpose(0, 1, 3, 2) / np.sqrt(2.0)) @ heads(pv)
    np.testing.assert_allclose(out, ctx.transpose(0, 2, 1, 3).reshape(2, 3, 4), rtol=1e-10)
