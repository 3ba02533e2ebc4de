"""Train the digits CNN eagerly (dygraph mode), then trace it into a static program and save
it as an inference model that the static executor runs.

    python examples/dygraph_train.py --epochs 5
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

import minigraph as mg
from minigraph import jit


class DigitsCNN(mg.nn.Layer):
    """[conv 3x3 + BatchNorm + relu + max-pool 2x2] x 2, then a linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = mg.nn.Conv2D(1, 16, 3, padding=1, bias_attr=False)
        self.bn1 = mg.nn.BatchNorm(16, act="relu")
        self.conv2 = mg.nn.Conv2D(16, 32, 3, padding=1, bias_attr=False)
        self.bn2 = mg.nn.BatchNorm(32, act="relu")
        self.pool = mg.nn.Pool2D(2, "max", 2)
        self.fc = mg.nn.Linear(32 * 2 * 2, 10)

    def forward(self, x: Any) -> Any:
        h = self.pool(self.bn1(self.conv1(x)))
        h = self.pool(self.bn2(self.conv2(h)))
        return self.fc(mg.layers.flatten(h, 1))


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[:, None, :, :]
    y = digits.target.astype("int64").reshape(-1, 1)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the initial weights and shuffling (0: fresh entropy each run)"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only this many training samples (tests)")
    parser.add_argument("--out", default="out/dygraph_train")
    args = parser.parse_args(argv)

    x_train, y_train, x_test, y_test = load_data(args.seed)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    rng = np.random.default_rng(args.seed)
    losses = []
    with mg.dygraph.guard(seed=args.seed):
        net = DigitsCNN()
        opt = mg.optimizer.Momentum(args.lr, momentum=0.9, parameter_list=net.parameters())
        for epoch in range(args.epochs):
            order = rng.permutation(len(x_train))
            total, seen = 0.0, 0
            for first in range(0, len(order), args.batch_size):
                idx = order[first : first + args.batch_size]
                if len(idx) < 2:
                    continue
                logits = net(mg.dygraph.to_variable(x_train[idx]))
                loss = mg.layers.mean(
                    mg.layers.softmax_with_cross_entropy(logits, mg.dygraph.to_variable(y_train[idx]))
                )
                loss.backward()
                opt.minimize(loss)
                net.clear_gradients()
                total += float(loss.numpy()) * len(idx)
                seen += len(idx)
            losses.append(total / seen)
            print(f"epoch {epoch + 1}: loss {losses[-1]:.4f}")
        net.eval()
        with mg.dygraph.no_grad():
            probs = mg.layers.softmax(net(mg.dygraph.to_variable(x_test))).numpy()
        eager_acc = float((probs.argmax(axis=1) == y_test[:, 0]).mean())
        traced = jit.trace(net, [x_test[:2]], feed_names=["image"])
    exe = mg.Executor()
    (logits,) = exe.run(traced.program, feed={"image": x_test}, fetch_list=traced.fetch_names, scope=traced.scope)
    traced_acc = float((logits.argmax(axis=1) == y_test[:, 0]).mean())
    model_dir = os.path.join(args.out, "inference_model")
    traced.save_inference_model(model_dir, exe)
    print(f"eager test accuracy {eager_acc:.4f}; traced program {traced_acc:.4f}; saved to {model_dir}")
    return {"losses": losses, "eager_accuracy": eager_acc, "traced_accuracy": traced_acc, "model_dir": model_dir}


if __name__ == "__main__":
    main(sys.argv[1:])
