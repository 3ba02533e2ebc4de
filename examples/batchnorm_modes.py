"""Batch norm's modes, in one small training run.

Trains a two-hidden-layer classifier with batch_norm on scikit-learn's 8x8 digits (or on
synthetic blobs with --data synthetic), then evaluates it two ways:

1. `main.clone(for_test=True)`, made before `minimize`: every batch_norm gets is_test=True;
2. a test program built separately with is_test=True, sharing every parameter and both
   moving statistics with the training program *by name* through the scope.

It prints what each batch_norm op does in each program. The second batch_norm has
`trainable_statistics=True`, so it keeps normalising with batch statistics at test time
(but, in minigraph, never changes its running statistics outside training).

    python examples/batchnorm_modes.py --steps 200
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

import minigraph as mg
from minigraph.ops.norm import mode_text


def load_data(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features [N, 64] float32, labels [N, 1] int64)."""
    if kind == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = digits.data / 16.0, digits.target
    else:  # ten Gaussian blobs in 64 dimensions
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(10, 64))
        y = rng.integers(0, 10, size=1000)
        x = centres[y] + rng.normal(scale=1.5, size=(1000, 64))
    order = np.random.default_rng(seed).permutation(len(y))
    return x[order].astype("float32"), y[order].reshape(-1, 1).astype("int64")


def build(hidden: int, is_test: bool) -> tuple[mg.Variable, mg.Variable, mg.Variable, mg.Variable]:
    """The network; every parameter and statistic is named, so separately built programs
    share their values through the scope."""
    x = mg.data("x", [None, 64])
    label = mg.data("label", [None, 1], dtype="int64")
    h = mg.layers.fc(x, hidden, param_attr="fc1.w", bias_attr="fc1.b")
    h = mg.layers.batch_norm(
        h,
        act="relu",
        is_test=is_test,
        param_attr="bn1.scale",
        bias_attr="bn1.bias",
        moving_mean_name="bn1.mean",
        moving_variance_name="bn1.var",
    )
    h = mg.layers.fc(h, hidden, param_attr="fc2.w", bias_attr="fc2.b")
    bn2 = mg.nn.BatchNorm(
        hidden,
        act="relu",
        is_test=is_test,
        param_attr="bn2.scale",
        bias_attr="bn2.bias",
        moving_mean_name="bn2.mean",
        moving_variance_name="bn2.var",
        trainable_statistics=True,
    )
    h = bn2(h)
    logits = mg.layers.fc(h, 10, param_attr="fc3.w", bias_attr="fc3.b")
    loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
    return x, label, logits, loss


def bn_modes(program: mg.Program) -> list[str]:
    """'<Y name>: <mode>' for every batch_norm op, in program order."""
    return [
        f"{op.output('Y')[0]} (stats {op.input('Mean')[0]}): {mode_text(op.attrs)}"
        for op in program.global_block().ops
        if op.type == "batch_norm"
    ]


def snapshot(scope: mg.Scope) -> dict[str, np.ndarray]:
    return {n: np.array(scope.find_var(n).get_tensor()) for n in scope.local_var_names()}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("digits", "synthetic"), default="digits")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--test-size", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x_all, y_all = load_data(args.data, args.seed)
    x_test, y_test = x_all[: args.test_size], y_all[: args.test_size]
    x_train, y_train = x_all[args.test_size :], y_all[args.test_size :]

    main_prog, startup = mg.Program(), mg.Program()
    main_prog.random_seed = startup.random_seed = args.seed + 1
    with mg.program_guard(main_prog, startup):
        _, _, logits, loss = build(args.hidden, is_test=False)
        cloned = main_prog.clone(for_test=True)  # before minimize: forward only
        mg.optimizer.SGD(args.lr).minimize(loss)
    test_prog, test_startup = mg.Program(), mg.Program()
    with mg.program_guard(test_prog, test_startup):  # test_startup is never run: values come by name
        _, _, test_logits, _ = build(args.hidden, is_test=True)

    modes = {"train": bn_modes(main_prog), "clone": bn_modes(cloned), "separate test": bn_modes(test_prog)}
    for name, lines in modes.items():
        print(f"{name} program:")
        for line in lines:
            print(f"  {line}")

    exe, scope = mg.Executor(), mg.Scope()
    exe.run(startup, scope=scope)
    rng = np.random.default_rng(args.seed)
    losses = []
    for step in range(args.steps):
        idx = rng.choice(len(x_train), size=args.batch_size, replace=False)
        (loss_v,) = exe.run(main_prog, feed={"x": x_train[idx], "label": y_train[idx]}, fetch_list=[loss], scope=scope)
        losses.append(float(loss_v))
        if step % max(1, args.steps // 5) == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {losses[-1]:.4f}")

    before = snapshot(scope)
    feed = {"x": x_test, "label": y_test}
    (clone_logits,) = exe.run(cloned, feed=feed, fetch_list=[logits], scope=scope)
    (separate_logits,) = exe.run(test_prog, feed=feed, fetch_list=[test_logits], scope=scope)
    after = snapshot(scope)
    unchanged = before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    same = bool(np.array_equal(clone_logits, separate_logits))
    accuracy = float(np.mean(clone_logits.argmax(axis=1) == y_test[:, 0]))
    print(f"test accuracy {accuracy:.3f} on {len(y_test)} samples")
    print(f"clone and separately built test program agree exactly: {same}")
    print(f"test programs left every persistable unchanged: {unchanged}")
    for name in ("bn1.mean", "bn1.var", "bn2.mean", "bn2.var"):
        print(f"  {name}: {np.array2string(after[name][:4], precision=3)} ...")
    return {
        "losses": losses,
        "accuracy": accuracy,
        "modes": modes,
        "clone_equals_separate": same,
        "persistables_unchanged": unchanged,
        "statistics": {k: after[k] for k in ("bn1.mean", "bn1.var", "bn2.mean", "bn2.var")},
        "clone_logits": clone_logits,
    }


if __name__ == "__main__":
    main()
