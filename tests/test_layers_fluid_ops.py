"""Layer builders for the fluid-era ops: names, shapes, defaults and values (the ops
themselves are checked row by row in tests/cases/)."""

import numpy as np
import pytest

import minigraph as mg


def run(build, feed, fetch_grads=()):
    """Build in fresh programs, run startup and main once; returns (main, scope, values)."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        outs = list(build())
        if fetch_grads:
            loss = mg.layers.mean(outs[0])
            outs += mg.gradients([loss], [v() for v in fetch_grads])
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    return main, scope, exe.run(main, feed=feed, fetch_list=outs, scope=scope)


def test_embedding_padding_idx_rows_are_zero_and_get_no_gradient():
    ids = np.array([[1], [4], [1], [0]])

    def build():
        word = mg.layers.data("w", [1], dtype="int64")
        return (mg.layers.embedding(word, size=[5, 3], padding_idx=-1, param_attr="emb"),)

    def table():
        return mg.default_main_program().global_block().var("emb")

    main, scope, (out, dtable) = run(build, {"w": ids}, fetch_grads=[table])
    w = np.array(scope.find_var("emb").get_tensor())
    assert main.global_block().ops[0].type == "lookup_table"
    assert main.global_block().ops[0].attr("padding_idx") == 4
    np.testing.assert_allclose(out, np.stack([w[1], np.zeros(3), w[1], w[0]]))
    expected = np.zeros((5, 3))
    expected[1], expected[0] = 2 / 12, 1 / 12  # mean over 12 outputs; row 4 is padding
    np.testing.assert_allclose(dtable, expected, rtol=1e-6)


def test_embedding_shares_a_named_table_and_fluid_embedding_takes_plain_ids():
    def build():
        a = mg.layers.embedding(mg.layers.data("a", [1], dtype="int64"), [6, 2], param_attr="shared_w")
        b = mg.layers.embedding(mg.layers.data("b", [1], dtype="int64"), [6, 2], param_attr="shared_w")
        c = mg.embedding(mg.layers.data("c", [2], dtype="int64"), [6, 2], param_attr="shared_w")
        return a, b, c

    main, _, (a, b, c) = run(build, {"a": [[2]], "b": [[2]], "c": [[2, 3]]})
    assert [p.name for p in main.all_parameters()] == ["shared_w"]
    np.testing.assert_array_equal(a, b)
    assert c.shape == (1, 2, 2) and main.global_block().ops[2].type == "lookup_table_v2"
    np.testing.assert_array_equal(c[0, 0], a[0])
    with pytest.raises(mg.GraphBuildError, match="padding_idx 9"):
        with mg.program_guard(mg.Program(), mg.Program()):
            mg.layers.embedding(mg.layers.data("a", [1], dtype="int64"), [6, 2], padding_idx=9)


def test_index_layers():
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]], "float32")

    def build():
        xv = mg.layers.data("x", [3])
        label = mg.layers.data("label", [1], dtype="int64")
        values, indices = mg.layers.topk(xv, k=2)
        cond = mg.layers.cast(mg.layers.one_hot(label, 3), "bool")
        return (
            mg.layers.one_hot(label, depth=3),
            mg.layers.argmax(xv),
            mg.layers.argmin(xv, axis=1),
            values,
            indices,
            mg.layers.where(cond, xv, mg.layers.scale(xv, 0.0)),
            mg.layers.where(cond),
            mg.layers.gather(xv, mg.layers.assign(np.array([1, 1, 0]))),
        )

    _, _, outs = run(build, {"x": x, "label": np.array([[2], [0]])})
    onehot, amax, amin, values, indices, picked, coords, gathered = outs
    np.testing.assert_array_equal(onehot, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(amax, [0, 1, 1])  # fluid's default axis is 0
    np.testing.assert_array_equal(amin, [1, 0])
    np.testing.assert_array_equal(values, [[3, 2], [5, 4]])
    np.testing.assert_array_equal(indices, [[0, 2], [1, 2]])
    np.testing.assert_array_equal(picked, [[0, 0, 2], [0, 0, 0]])
    np.testing.assert_array_equal(coords, [[0, 2], [1, 0]])
    np.testing.assert_array_equal(gathered, x[[1, 1, 0]])


def test_scatter_layer_overwrite_and_accumulate():
    def build():
        x = mg.layers.data("x", [2], append_batch_size=False)
        ids = mg.layers.assign(np.array([1, 1]))
        upd = mg.layers.assign(np.array([[1.0], [2.0]], "float32"))
        xx = mg.layers.reshape(x, [2, 1])
        return mg.layers.scatter(xx, ids, upd), mg.layers.scatter(xx, ids, upd, overwrite=False)

    _, _, (over, acc) = run(build, {"x": np.array([5.0, 6.0], "float32")})
    np.testing.assert_array_equal(over, [[5.0], [2.0]])
    np.testing.assert_array_equal(acc, [[5.0], [3.0]])


def test_shape_and_math_layers():
    x = np.arange(6, dtype="float32").reshape(2, 3) / 4 + 0.25

    def build():
        xv = mg.layers.data("x", [3])
        return (
            mg.layers.slice(xv, axes=[1], starts=[1], ends=[100]),
            mg.layers.stack([xv, xv], axis=1),
            mg.layers.unsqueeze(xv, [1]),
            mg.layers.squeeze(mg.layers.unsqueeze(xv, [0, 2]), []),
            mg.layers.expand(xv, [1, 2]),
            mg.layers.pad(xv, [0, 1, 1, 0], pad_value=-1.0),
            mg.layers.clip(xv, min=0.5, max=1.0),
            mg.layers.elementwise_pow(xv, xv),
            mg.layers.pow(xv, factor=2.0),
            mg.layers.floor(mg.layers.scale(xv, 2.0)),
            mg.layers.cos(xv),
        )

    _, _, outs = run(build, {"x": x})
    sliced, stacked, unsq, sq, expanded, padded, clipped, epow, pw, fl, cs = outs
    np.testing.assert_array_equal(sliced, x[:, 1:])
    assert stacked.shape == (2, 2, 3) and unsq.shape == (2, 1, 3) and sq.shape == (2, 3)
    np.testing.assert_array_equal(expanded, np.tile(x, (1, 2)))
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 1), (1, 0)], constant_values=-1))
    np.testing.assert_array_equal(clipped, np.clip(x, 0.5, 1.0))
    np.testing.assert_allclose(epow, x**x, rtol=1e-6)
    np.testing.assert_allclose(pw, x**2, rtol=1e-6)
    np.testing.assert_array_equal(fl, np.floor(2 * x))
    np.testing.assert_allclose(cs, np.cos(x), rtol=1e-6)


def test_classification_layers():
    x = np.array([[0.5, -1.0], [2.0, 0.0]], "float32")
    z = np.array([[1.0, -100.0], [0.0, 1.0]], "float32")

    def build():
        xv, zv = mg.layers.data("x", [2]), mg.layers.data("z", [2])
        return (
            mg.layers.sigmoid_cross_entropy_with_logits(xv, zv, normalize=True),
            mg.layers.label_smooth(mg.layers.one_hot(mg.layers.data("c", [1], "int64"), 4), epsilon=0.2),
            mg.layers.cos_sim(xv, zv),
        )

    _, _, (sce, smooth, cos) = run(build, {"x": x, "z": z, "c": np.array([[1], [3]])})
    per = np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0) - x * z
    np.testing.assert_allclose(sce, np.where(z == -100, 0, per) / 3, rtol=1e-6)
    np.testing.assert_allclose(smooth, [[0.05, 0.85, 0.05, 0.05], [0.05, 0.05, 0.05, 0.85]], rtol=1e-6)
    want = (x * z).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(z, axis=1)
    np.testing.assert_allclose(cos[:, 0], want, rtol=1e-6)


def test_normalization_layers_create_their_parameters():
    x = np.random.default_rng(5).normal(size=(2, 4, 3, 3)).astype("float32")

    def build():
        xv = mg.layers.data("x", [4, 3, 3])
        return (
            mg.layers.layer_norm(xv, begin_norm_axis=2, act="relu"),
            mg.layers.instance_norm(xv),
            mg.layers.group_norm(xv, groups=2, bias_attr=False),
            mg.layers.layer_norm(xv, scale=False, shift=False),
        )

    main, _, (ln, inorm, gn, plain) = run(build, {"x": x})
    shapes = {p.name: p.shape for p in main.all_parameters()}
    assert shapes == {
        "layer_norm_0.w_0": (9,),
        "layer_norm_0.b_0": (9,),
        "instance_norm_0.w_0": (4,),
        "instance_norm_0.b_0": (4,),
        "group_norm_0.w_0": (4,),
    }
    rows = x.reshape(2, -1)
    want = (rows - rows.mean(1, keepdims=True)) / np.sqrt(rows.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(plain, want.reshape(x.shape), rtol=1e-4, atol=1e-5)
    assert (ln >= 0).all() and ln.shape == x.shape
    planes = x.reshape(8, -1)
    want = (planes - planes.mean(1, keepdims=True)) / np.sqrt(planes.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(inorm, want.reshape(x.shape), rtol=1e-4, atol=1e-5)
    halves = x.reshape(4, -1)
    want = (halves - halves.mean(1, keepdims=True)) / np.sqrt(halves.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(gn, want.reshape(x.shape), rtol=1e-4, atol=1e-5)


def test_image_layers():
    x = np.random.default_rng(6).normal(size=(2, 3, 4, 4)).astype("float32")

    def build():
        xv = mg.layers.data("x", [3, 4, 4])
        up = mg.layers.conv2d_transpose(xv, num_filters=2, filter_size=4, stride=2, padding=1, act="relu")
        sized = mg.layers.conv2d_transpose(xv, num_filters=4, output_size=[9, 9], stride=2, bias_attr=False)
        return (
            up,
            sized,
            mg.layers.lrn(xv, n=3),
            mg.layers.resize_nearest(xv, out_shape=[8, 8]),
            mg.layers.resize_bilinear(xv, scale=0.5),
        )

    main, _, (up, sized, normed, nearest, bilinear) = run(build, {"x": x})
    shapes = {p.name: p.shape for p in main.all_parameters()}
    assert shapes == {
        "conv2d_transpose_0.w_0": (3, 2, 4, 4),
        "conv2d_transpose_0.b_0": (2,),
        "conv2d_transpose_1.w_0": (3, 4, 3, 3),
    }
    assert up.shape == (2, 2, 8, 8) and (up >= 0).all() and sized.shape == (2, 4, 9, 9)
    assert normed.shape == x.shape and nearest.shape == (2, 3, 8, 8) and bilinear.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(nearest[:, :, ::2, ::2][:, :, :2, :2], x[:, :, :2, :2])
    np.testing.assert_allclose(bilinear[..., 0, 0], x[..., 0, 0], rtol=1e-6)  # align_corners keeps the corners
