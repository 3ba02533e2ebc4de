"""Train a small batch-norm network on scikit-learn's bundled 8x8 digits with Momentum and
ModelAverage, compare the trained and the averaged weights on the test set, export the
averaged model for inference, reload it and check it predicts exactly what the averaged
weights predicted.

    python examples/model_average.py --epochs 10 --out averaged_model
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

import minigraph as mg


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1], split 80/20 with a fixed permutation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int64").reshape(-1, 1)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def build(hidden: int, lr: float, rate: float, min_window: int, max_window: int, seed: int) -> dict[str, Any]:
    """fc -> batch_norm(relu) -> fc; Momentum; then ModelAverage over every parameter,
    the batch_norm moving statistics included (do_model_average_for_mean_and_var=True)."""
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = seed
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 64], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = mg.layers.fc(x, size=hidden)
        h = mg.layers.batch_norm(h, act="relu")
        logits = mg.layers.fc(h, size=10)
        probs = mg.layers.softmax(logits)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        acc = mg.layers.accuracy(probs, label)
        mg.optimizer.Momentum(lr, momentum=0.9).minimize(loss)
        average = mg.optimizer.ModelAverage(rate, min_average_window=min_window, max_average_window=max_window)
    # Test mode: batch_norm uses its moving statistics; no backward, update or averaging ops.
    test_program = main.clone(for_test=True)
    return {
        "main": main,
        "startup": startup,
        "test": test_program,
        "loss": loss,
        "acc": acc,
        "probs": probs,
        "average": average,
    }


def evaluate(exe: mg.Executor, net: dict[str, Any], x: np.ndarray, y: np.ndarray, scope: mg.Scope) -> tuple[float, Any]:
    acc, probs = exe.run(net["test"], feed={"x": x, "label": y}, fetch_list=[net["acc"], net["probs"]], scope=scope)
    return float(acc), probs


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--rate", type=float, default=0.15, help="ModelAverage average_window_rate")
    parser.add_argument("--min-window", type=int, default=10)
    parser.add_argument("--max-window", type=int, default=50)
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the initial weights and shuffling (0: fresh entropy each run)"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only this many training samples (for tests)")
    parser.add_argument("--out", default=None, help="directory for the averaged inference model (default: a temp dir)")
    args = parser.parse_args(argv)

    x_train, y_train, x_test, y_test = load_data(args.seed)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    net = build(args.hidden, args.lr, args.rate, args.min_window, args.max_window, args.seed)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(net["startup"], scope=scope)
    rng = np.random.default_rng(args.seed)
    epoch_losses = []
    for _ in range(args.epochs):
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), args.batch_size):
            idx = order[start : start + args.batch_size]
            (loss,) = exe.run(
                net["main"], feed={"x": x_train[idx], "label": y_train[idx]}, fetch_list=[net["loss"]], scope=scope
            )
            total += float(loss) * len(idx)
        epoch_losses.append(total / len(order))

    trained_acc, trained_probs = evaluate(exe, net, x_test, y_test, scope)
    out_dir = args.out or tempfile.mkdtemp(prefix="minigraph_model_average_")
    with net["average"].apply(exe, scope=scope):
        averaged_acc, averaged_probs = evaluate(exe, net, x_test, y_test, scope)
        # Export while the averaged values are in the scope: the saved weights are the averages.
        # Unfolded (fold_batch_norm=False), so the reloaded model must reproduce the averaged
        # predictions bit for bit.
        mg.io.save_inference_model(
            out_dir, ["x"], [net["probs"]], exe, main_program=net["main"], scope=scope, fold_batch_norm=False
        )
    restored_acc, restored_probs = evaluate(exe, net, x_test, y_test, scope)
    assert np.array_equal(restored_probs, trained_probs), "apply() did not restore the trained weights"

    load_scope = mg.Scope()  # a fresh scope: only what the saved model holds
    program, feed_names, fetch_targets = mg.io.load_inference_model(out_dir, exe, scope=load_scope)
    (reloaded_probs,) = exe.run(program, feed={feed_names[0]: x_test}, fetch_list=fetch_targets, scope=load_scope)
    max_diff = float(np.max(np.abs(reloaded_probs - averaged_probs)))
    reloaded_equal = bool(np.array_equal(reloaded_probs, averaged_probs))
    assert reloaded_equal, f"reloaded predictions differ from the averaged ones (max |diff| {max_diff})"

    print(f"trained {args.epochs} epochs: final train loss {epoch_losses[-1]:.4f}")
    print(f"test accuracy, trained weights:  {trained_acc:.4f}")
    print(f"test accuracy, averaged weights: {averaged_acc:.4f}")
    print(f"averaged model saved to {out_dir} and reloaded: predictions identical ({reloaded_equal})")
    return {
        "epoch_losses": epoch_losses,
        "trained_accuracy": trained_acc,
        "averaged_accuracy": averaged_acc,
        "restored_accuracy": restored_acc,
        "model_dir": out_dir,
        "reloaded_equal": reloaded_equal,
        "reloaded_max_abs_diff": max_diff,
        "averaged_probs": averaged_probs,
        "trained_probs": trained_probs,
        "inference_ops": [op.type for op in program.global_block().ops],
    }


if __name__ == "__main__":
    main(sys.argv[1:])
