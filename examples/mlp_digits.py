"""Train a small MLP on scikit-learn's bundled 8x8 digits (no download) with minigraph's
static graph: build once, run many times.

    python examples/mlp_digits.py --epochs 20
"""

from __future__ import annotations

import argparse
import sys
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


def build(hidden: int, lr: float, seed: int) -> dict[str, Any]:
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = seed
    with mg.program_guard(main, startup):
        x = mg.data("x", shape=[None, 64], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = mg.layers.fc(x, size=hidden, act="relu")
        h = mg.layers.fc(h, size=hidden, act="relu")
        logits = mg.layers.fc(h, size=10)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        acc = mg.layers.accuracy(mg.layers.softmax(logits), label)
        test_program = main.clone(for_test=True)  # forward only, taken before minimize
        mg.optimizer.Momentum(lr, momentum=0.9).minimize(loss)
    return {"main": main, "startup": startup, "test": test_program, "loss": loss, "acc": acc}


def evaluate(exe: mg.Executor, net: dict[str, Any], x: np.ndarray, y: np.ndarray, scope: mg.Scope) -> float:
    (acc,) = exe.run(net["test"], feed={"x": x, "label": y}, fetch_list=[net["acc"]], scope=scope)
    return float(acc)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the initial weights and shuffling (0: fresh entropy each run)"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only this many training samples (for tests)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    x_train, y_train, x_test, y_test = load_data(args.seed)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    net = build(args.hidden, args.lr, args.seed)
    exe, scope = mg.Executor(), mg.Scope()
    exe.run(net["startup"], scope=scope)
    rng = np.random.default_rng(args.seed)
    epoch_losses = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        batches = range(0, len(order), args.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.quiet, leave=False)
        total, seen = 0.0, 0
        for start in bar:
            idx = order[start : start + args.batch_size]
            loss, acc = exe.run(
                net["main"],
                feed={"x": x_train[idx], "label": y_train[idx]},
                fetch_list=[net["loss"], net["acc"]],
                scope=scope,
            )
            total += float(loss) * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{float(acc):.3f}")
        epoch_losses.append(total / seen)
    test_acc = evaluate(exe, net, x_test, y_test, scope)
    print(f"trained {args.epochs} epochs: final train loss {epoch_losses[-1]:.4f}, test accuracy {test_acc:.4f}")
    return {"epoch_losses": epoch_losses, "test_accuracy": test_acc}


if __name__ == "__main__":
    main(sys.argv[1:])
