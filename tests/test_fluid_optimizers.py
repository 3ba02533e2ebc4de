"""fluid's optimizers, learning-rate schedules and gradient clips: two training steps of a
linear least-squares model checked against each update rule written out in numpy."""

import math
import warnings

import numpy as np
import pytest

import minigraph as mg

X = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 1.5], [2.0, 0.5, -1.0], [-0.5, 1.0, 1.0]])
Y = np.array([[1.0], [-2.0], [0.5], [3.0]])
W0 = np.array([[0.3], [-0.2], [0.1]])
LR = 0.125  # exact in float32, the learning-rate variable's dtype


def _grad(w):
    return 2.0 / len(X) * X.T @ (X @ w - Y)


def _train(opt, steps=2, clip=None):
    """Run `steps` updates of `opt` on mean((X w - Y)^2); returns (w per step, main, scope)."""
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.layers.data("x", [3], dtype="float64")
        y = mg.layers.data("y", [1], dtype="float64")
        w = mg.layers.create_parameter([3, 1], "float64", name="w")
        loss = mg.layers.mean(mg.layers.square(mg.layers.matmul(x, w) - y))
        opt.minimize(loss)
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    scope.var("w").set(W0)
    ws = []
    for _ in range(steps):
        exe.run(main, feed={"x": X, "y": Y}, scope=scope)
        ws.append(np.array(scope.find_var("w").get_tensor()))
    return ws, main, scope


def _reference(update, state, steps=2):
    w, out = W0.copy(), []
    for t in range(1, steps + 1):
        w = update(w, _grad(w), state, t)
        out.append(w.copy())
    return out


def _rmsprop(w, g, s, t, rho=0.9, eps=1e-6, mu=0.5):
    s["ms"] = rho * s.get("ms", 0) + (1 - rho) * g * g
    s["mom"] = mu * s.get("mom", 0) + LR * g / np.sqrt(s["ms"] + eps)
    return w - s["mom"]


def _rmsprop_centered(w, g, s, t, rho=0.9, eps=1e-6):
    s["ms"] = rho * s.get("ms", 0) + (1 - rho) * g * g
    s["mg"] = rho * s.get("mg", 0) + (1 - rho) * g
    return w - LR * g / np.sqrt(s["ms"] - s["mg"] ** 2 + eps)


def _adagrad(w, g, s, t, eps=1e-6):
    s["m"] = s.get("m", 0.1) + g * g  # initial_accumulator_value=0.1
    return w - LR * g / (np.sqrt(s["m"]) + eps)


def _decayed_adagrad(w, g, s, t, decay=0.9, eps=1e-6):
    s["m"] = decay * s.get("m", 0) + (1 - decay) * g * g
    return w - LR * g / (np.sqrt(s["m"]) + eps)


def _adamax(w, g, s, t, b1=0.9, b2=0.999, eps=1e-8):
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0) + eps, np.abs(g))
    return w - LR / (1 - b1**t) * s["m"] / s["u"]


def _ftrl(w, g, s, t, l1=0.01, l2=0.1):
    n, z = s.get("n", 0), s.get("z", 0)
    new = n + g * g
    z = z + g - (np.sqrt(new) - np.sqrt(n)) / LR * w
    s["n"], s["z"] = new, z
    return np.where(np.abs(z) > l1, (l1 * np.sign(z) - z) / (np.sqrt(new) / LR + 2 * l2), 0.0)


def _adam_moments(g, s, t, b1=0.9, b2=0.999):
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
    return s["m"], s["v"], b1**t, b2**t


def _lamb(w, g, s, t, eps=1e-6, wd=0.05):
    m, v, b1t, b2t = _adam_moments(g, s, t)
    r = (m / (1 - b1t)) / (np.sqrt(v / (1 - b2t)) + eps) + wd * w
    return w - LR * np.linalg.norm(w) / np.linalg.norm(r) * r


def _adamw(w, g, s, t, eps=1e-8, coeff=0.05):
    m, v, b1t, b2t = _adam_moments(g, s, t)
    w = w * (1 - LR * coeff)
    return w - LR * np.sqrt(1 - b2t) / (1 - b1t) * m / (np.sqrt(v) + eps * np.sqrt(1 - b2t))


OPTIMIZERS = {
    "rmsprop": (lambda: mg.optimizer.RMSProp(LR, rho=0.9, momentum=0.5), _rmsprop),
    "rmsprop_centered": (lambda: mg.optimizer.RMSPropOptimizer(LR, rho=0.9, centered=True), _rmsprop_centered),
    "adagrad": (lambda: mg.optimizer.AdagradOptimizer(LR, initial_accumulator_value=0.1), _adagrad),
    "decayed_adagrad": (lambda: mg.optimizer.DecayedAdagrad(LR, decay=0.9), _decayed_adagrad),
    "adamax": (lambda: mg.optimizer.AdamaxOptimizer(LR), _adamax),
    "ftrl": (lambda: mg.optimizer.FtrlOptimizer(LR, l1=0.01, l2=0.1), _ftrl),
    "lamb": (lambda: mg.optimizer.LambOptimizer(LR, lamb_weight_decay=0.05), _lamb),
    "adamw": (lambda: mg.optimizer.AdamW(LR, weight_decay=0.05), _adamw),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_two_steps_follow_the_update_rule(name):
    make, rule = OPTIMIZERS[name]
    got, _, _ = _train(make())
    want = _reference(rule, {})
    for step, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=f"{name} step {step + 1}")


def test_accumulators_and_adamax_beta_power():
    _, main, scope = _train(mg.optimizer.Adamax(LR), steps=2)
    names = sorted(v.name for v in main.list_vars() if v.persistable and v.name != "w")
    assert names == ["learning_rate_0", "w_beta1_pow_acc_0", "w_inf_norm_0", "w_moment_0"]
    np.testing.assert_allclose(scope.find_var("w_beta1_pow_acc_0").get_tensor(), [0.9**3])
    types = [op.type for op in main.global_block().ops[-2:]]
    assert types == ["adamax", "scale"]


def test_obsolete_keyword_warns_and_unknown_keyword_fails():
    with pytest.warns(UserWarning, match="LARS_weight_decay=0.1 is ignored"):
        mg.optimizer.Momentum(0.1, momentum=0.9, LARS_weight_decay=0.1)
    with pytest.warns(UserWarning, match="LARS_weight_decay"):
        mg.optimizer.SGD(0.1, LARS_weight_decay=0.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentom'"):
        mg.optimizer.RMSProp(0.1, momentom=0.9)


def test_gradient_clip_by_value_and_by_norm():
    g = _grad(W0)
    got, main, _ = _train(mg.optimizer.SGD(LR, grad_clip=mg.clip.GradientClipByValue(0.5)), steps=1)
    np.testing.assert_allclose(got[0], W0 - LR * np.clip(g, -0.5, 0.5), rtol=1e-12)
    assert "clip" in [op.type for op in main.global_block().ops]
    got, main, _ = _train(mg.optimizer.SGD(LR, grad_clip=mg.clip.GradientClipByNorm(0.5)), steps=1)
    np.testing.assert_allclose(got[0], W0 - LR * g * 0.5 / np.linalg.norm(g), rtol=1e-12)
    assert main.global_block().has_var("clip_by_norm_0.tmp_0")
    with pytest.raises(ValueError, match="min"):
        mg.clip.GradientClipByValue(max=-1.0)


def _schedule_values(build, steps=7):
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        lr = build()
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    return [float(exe.run(main, fetch_list=[lr], scope=scope)[0][0]) for _ in range(steps)], main


SCHEDULES = {
    "exponential": (lambda: mg.layers.exponential_decay(0.1, 2, 0.5), lambda t: 0.1 * 0.5 ** (t / 2)),
    "exponential_staircase": (
        lambda: mg.layers.exponential_decay(0.1, 2, 0.5, staircase=True),
        lambda t: 0.1 * 0.5 ** (t // 2),
    ),
    "natural_exp": (lambda: mg.layers.natural_exp_decay(0.1, 3, 0.4), lambda t: 0.1 * math.exp(-0.4 * t / 3)),
    "inverse_time": (
        lambda: mg.layers.inverse_time_decay(0.1, 2, 0.5, staircase=True),
        lambda t: 0.1 / (1 + 0.5 * (t // 2)),
    ),
    "polynomial": (
        lambda: mg.layers.polynomial_decay(0.1, 4, 0.01, power=2.0),
        lambda t: (0.1 - 0.01) * (1 - min(t, 4) / 4) ** 2 + 0.01,
    ),
    "polynomial_cycle": (
        lambda: mg.layers.polynomial_decay(0.1, 3, 0.01, cycle=True),
        lambda t: (0.1 - 0.01) * (1 - t / (3 * max(math.ceil(t / 3), 1))) + 0.01,
    ),
    "piecewise": (
        lambda: mg.layers.piecewise_decay([2, 5], [1.0, 0.5, 0.1]),
        lambda t: 1.0 if t < 2 else 0.5 if t < 5 else 0.1,
    ),
    "cosine": (lambda: mg.layers.cosine_decay(0.1, 2, 5), lambda t: 0.05 * (math.cos((t // 2) * math.pi / 5) + 1)),
    "noam": (lambda: mg.layers.noam_decay(64, 3), lambda t: 64**-0.5 * min((t + 1) ** -0.5, (t + 1) * 3**-1.5)),
    "warmup": (lambda: mg.layers.linear_lr_warmup(0.5, 3, 0.0, 0.3), lambda t: 0.1 * t if t < 3 else 0.5),
    "warmup_then_decay": (
        lambda: mg.layers.linear_lr_warmup(mg.layers.exponential_decay(0.4, 1, 0.5), 2, 0.1, 0.2),
        lambda t: 0.1 + 0.05 * t if t < 2 else 0.4 * 0.5**t,
    ),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedules_follow_their_formula_step_by_step(name):
    build, formula = SCHEDULES[name]
    got, _ = _schedule_values(build)
    np.testing.assert_allclose(got, [formula(t) for t in range(7)], rtol=1e-6, err_msg=name)


def test_the_step_counter_is_one_persistable_and_test_clones_leave_it_alone():
    main, startup = mg.Program(), mg.Program()
    with mg.program_guard(main, startup):
        x = mg.layers.data("x", [1])
        loss = mg.layers.mean(mg.layers.fc(x, 1))
        test = main.clone(for_test=True)
        lr = mg.layers.exponential_decay(0.1, 10, 0.9)
        mg.layers.piecewise_decay([3], [0.1, 0.01])
        mg.optimizer.SGD(lr).minimize(loss)
        test_after = main.clone(for_test=True)
    counter = main.global_block().var("@LR_DECAY_COUNTER@")
    assert counter.persistable and counter.dtype == "int64"
    assert [op.type for op in main.global_block().ops].count("increment") == 1
    for prog in (test, test_after):
        assert "increment" not in [op.type for op in prog.global_block().ops]
    scope, exe = mg.Scope(), mg.Executor()
    exe.run(startup, scope=scope)
    feed = {"x": np.ones((2, 1), "float32")}
    for _ in range(3):
        exe.run(main, feed=feed, scope=scope)
    exe.run(test_after, feed=feed, scope=scope)
    assert scope.find_var("@LR_DECAY_COUNTER@").get_tensor().tolist() == [2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mg.optimizer.SGD(0.1)  # no obsolete argument, no warning
