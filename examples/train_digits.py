"""minigraph's flagship example: a small CNN on scikit-learn's bundled 8x8 digits.

Two [conv 3x3 + batch_norm + relu + max-pool 2x2] blocks and an fc layer, trained with
Momentum while ModelAverage keeps a running average of the weights (batch_norm statistics
included). Evaluation runs through a `clone(for_test=True)` program; the averaged model is
saved as an inference model (and, with the onnx extra installed, as model.onnx, whose
onnxruntime accuracy is printed next to minigraph's) and the loss/accuracy curves are
plotted to PNG. Two drawings:
`model_graph.svg`, the test program's forward graph with each op's parameters inside its
box, and `train_graph.html`, the whole training program in an interactive viewer (click a
node for its attributes, shapes and weight statistics; each forward op's backward and
optimizer ops sit in one box that expands on a click). All under --out.

    python examples/train_digits.py                # ~20 s on two cores, >= 97% test accuracy
    python examples/train_digits.py --epochs 1 --out /tmp/digits
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import minigraph as mg


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits as [N, 1, 8, 8] float32 in [0, 1], split 80/20 by a fixed permutation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[:, None, :, :]
    y = digits.target.astype("int64").reshape(-1, 1)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def conv_block(x: mg.Variable, filters: int) -> mg.Variable:
    h = mg.layers.conv2d(x, num_filters=filters, filter_size=3, padding=1, bias_attr=False)
    h = mg.layers.batch_norm(h, act="relu")
    return mg.layers.pool2d(h, pool_size=2, pool_type="max", pool_stride=2)


def build(lr: float, seed: int) -> dict[str, Any]:
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = seed
    with mg.program_guard(main, startup):
        image = mg.data("image", shape=[None, 1, 8, 8], dtype="float32")
        label = mg.data("label", shape=[None, 1], dtype="int64")
        with mg.name_scope("block1"):
            h = conv_block(image, 16)
        with mg.name_scope("block2"):
            h = conv_block(h, 32)
        with mg.name_scope("head"):
            logits = mg.layers.fc(h, size=10)
            probs = mg.layers.softmax(logits)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        acc = mg.layers.accuracy(probs, label)
        test_program = main.clone(for_test=True)
        mg.optimizer.Momentum(lr, momentum=0.9, regularization=mg.regularizer.L2Decay(1e-4)).minimize(loss)
        average = (
            mg.optimizer.ModelAverage(0.15, min_average_window=50, max_average_window=200)
            if hasattr(mg.optimizer, "ModelAverage")
            else None
        )
    return {
        "main": main,
        "startup": startup,
        "test": test_program,
        "loss": loss,
        "acc": acc,
        "probs": probs,
        "image": image,
        "average": average,
    }


def evaluate(exe: mg.Executor, net: dict[str, Any], x: np.ndarray, y: np.ndarray) -> float:
    (acc,) = exe.run(net["test"], feed={"image": x, "label": y}, fetch_list=[net["acc"]])
    return float(acc)


def onnx_accuracy(model_dir: str, path: str, x: np.ndarray, y: np.ndarray) -> float | None:
    """Export the inference model to ONNX at `path` and return onnxruntime's accuracy on
    (x, y); None when onnx/onnxruntime are not installed (pip install -e '.[onnx]')."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        return None
    mg.onnx.export_inference_model(model_dir, path)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (probs,) = session.run(None, {"image": x})
    return float((probs.argmax(axis=1) == y[:, 0]).mean())


def plot(history: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(history["loss"], label="train loss")
    left.set_xlabel("epoch")
    left.set_title("loss")
    right.plot(history["train_acc"], label="train")
    right.plot(history["test_acc"], label="test")
    right.set_xlabel("epoch")
    right.set_title("accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw(net: dict[str, Any], scope: mg.Scope, out: str) -> dict[str, str]:
    """model_graph.svg (forward graph of the test program) and train_graph.html (the
    training program, with the weights' statistics from `scope`). Without Graphviz's `dot`
    only the .dot files are written, and a line says so."""
    drawings = {
        "model_graph": (net["test"], {"format": "svg"}),
        "train_graph": (net["main"], {"format": "html", "scope": scope, "collapse_backward": True}),
    }
    drawn = {}
    for name, (program, options) in drawings.items():
        try:
            drawn[name] = mg.viz.render(
                program, os.path.join(out, name), inline_params=True, hide_unused=True, **options
            )
        except (mg.viz.GraphvizNotFoundError, mg.viz.MissingDependencyError) as e:
            print(f"{name} not rendered: {e}")
    return drawn


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the initial weights and shuffling (0: fresh entropy each run)"
    )
    parser.add_argument("--out", default="out/train_digits", help="folder for the model, graph and plot")
    parser.add_argument("--limit", type=int, default=0, help="use only this many training samples (tests)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    os.makedirs(args.out, exist_ok=True)
    x_train, y_train, x_test, y_test = load_data(args.seed)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    net = build(args.lr, args.seed)
    exe = mg.Executor()
    scope = mg.Scope()
    rng = np.random.default_rng(args.seed)
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "test_acc": []}
    start = time.perf_counter()
    with mg.scope_guard(scope):
        exe.run(net["startup"])
        for epoch in range(args.epochs):
            order = rng.permutation(len(x_train))
            bar = tqdm(
                range(0, len(order), args.batch_size),
                desc=f"epoch {epoch + 1}/{args.epochs}",
                disable=args.quiet,
                leave=False,
            )
            loss_sum = acc_sum = 0.0
            seen = 0
            for first in bar:
                idx = order[first : first + args.batch_size]
                if len(idx) < 2:  # batch_norm needs more than one value per channel
                    continue
                loss, acc = exe.run(
                    net["main"],
                    feed={"image": x_train[idx], "label": y_train[idx]},
                    fetch_list=[net["loss"], net["acc"]],
                )
                loss_sum += float(loss) * len(idx)
                acc_sum += float(acc) * len(idx)
                seen += len(idx)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{acc_sum / seen:.3f}")
            history["loss"].append(loss_sum / seen)
            history["train_acc"].append(acc_sum / seen)
            history["test_acc"].append(evaluate(exe, net, x_test, y_test))
            if not args.quiet:
                print(
                    f"epoch {epoch + 1}: loss {history['loss'][-1]:.4f}, train acc {history['train_acc'][-1]:.4f}, "
                    f"test acc {history['test_acc'][-1]:.4f}"
                )
        seconds = time.perf_counter() - start
        result: dict[str, Any] = {"history": history, "test_accuracy": history["test_acc"][-1], "seconds": seconds}
        model_dir = os.path.join(args.out, "inference_model")
        if net["average"] is not None:
            with net["average"].apply(exe):
                result["averaged_test_accuracy"] = evaluate(exe, net, x_test, y_test)
                mg.io.save_inference_model(model_dir, ["image"], [net["probs"]], exe, main_program=net["main"])
        else:
            mg.io.save_inference_model(model_dir, ["image"], [net["probs"]], exe, main_program=net["main"])
        result["model_dir"] = model_dir
        onnx_path = os.path.join(args.out, "model.onnx")
        result["onnx_test_accuracy"] = onnx_accuracy(model_dir, onnx_path, x_test, y_test)
        if result["onnx_test_accuracy"] is not None:
            result["onnx_model"] = onnx_path
        result.update(draw(net, scope, args.out))
    plot(history, os.path.join(args.out, "curves.png"))
    result["plot"] = os.path.join(args.out, "curves.png")
    line = f"test accuracy {result['test_accuracy']:.4f}"
    if "averaged_test_accuracy" in result:
        line += f" (averaged weights {result['averaged_test_accuracy']:.4f})"
    print(f"{line}; trained in {seconds:.1f} s; outputs in {args.out}")
    if result["onnx_test_accuracy"] is not None:
        saved = result.get("averaged_test_accuracy", result["test_accuracy"])
        print(f"model.onnx in onnxruntime: test accuracy {result['onnx_test_accuracy']:.4f} (minigraph {saved:.4f})")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
