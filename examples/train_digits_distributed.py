"""The flagship CNN trained data-parallel: one program, N processes, synchronized batch_norm.

The network of examples/train_digits.py (two [conv 3x3 + batch_norm + relu + max-pool 2x2]
blocks and an fc layer on scikit-learn's 8x8 digits), trained with Momentum and
ModelAverage. Each process takes its share of every batch (DistributedBatchSampler);
`distributed_optimizer` averages the gradients over the processes and, with
`strategy.sync_batch_norm`, every batch_norm normalises with the statistics of the global
batch, so N processes with batch 16 each train what one process would with batch 16 * N.
`--eager` trains the same network in dygraph mode (SyncBatchNorm + DataParallel).

    mpiexec -n 2 python examples/train_digits_distributed.py
    python -m minigraph.distributed.launch --nproc 2 examples/train_digits_distributed.py --epochs 3
    python examples/train_digits_distributed.py          # one process: no MPI needed

Rank 0 prints the progress, saves a checkpoint after every epoch (`--out`/checkpoint; every
rank can resume from it with `--resume`) and the averaged model for inference.
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
import minigraph.distributed as dist


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


def build(
    lr: float = 0.05,
    seed: int = 1,
    distributed: bool = True,
    sync_batch_norm: bool = True,
    dtype: str = "float32",
    fuse_grad_size_in_mb: float = 32,
    average: bool = True,
) -> dict[str, Any]:
    """The static training program; `distributed=False` gives the plain single-process one."""
    main, startup = mg.Program(), mg.Program()
    startup.random_seed = seed
    with mg.program_guard(main, startup):
        image = mg.data("image", shape=[None, 1, 8, 8], dtype=dtype)
        label = mg.data("label", shape=[None, 1], dtype="int64")
        h = conv_block(conv_block(image, 16), 32)
        logits = mg.layers.fc(h, size=10)
        probs = mg.layers.softmax(logits)
        loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
        acc = mg.layers.accuracy(probs, label)
        test_program = main.clone(for_test=True)
        opt = mg.optimizer.Momentum(lr, momentum=0.9)
        if distributed:
            strategy = dist.DistributedStrategy()
            strategy.sync_batch_norm = sync_batch_norm
            strategy.fuse_grad_size_in_MB = fuse_grad_size_in_mb
            opt = dist.distributed_optimizer(opt, strategy)
        opt.minimize(loss)
        avg = mg.optimizer.ModelAverage(0.15, min_average_window=50, max_average_window=200) if average else None
    return {
        "main": main,
        "startup": startup,
        "test": test_program,
        "loss": loss,
        "acc": acc,
        "probs": probs,
        "average": avg,
    }


class DigitsNet(mg.nn.Layer):
    """The same network as an nn.Layer (for eager mode)."""

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


def train_static(args: argparse.Namespace, data: tuple[np.ndarray, ...], rank: int) -> dict[str, Any]:
    x_train, y_train, x_test, y_test = data
    net = build(args.lr, args.seed + rank)  # different seeds: the startup broadcast makes them agree
    exe, scope = mg.Executor(), mg.Scope()
    sampler = dist.DistributedBatchSampler(len(x_train), args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    ckpt = os.path.join(args.out, "checkpoint")
    history: dict[str, list[float]] = {"loss": [], "test_acc": []}
    with mg.scope_guard(scope):
        exe.run(net["startup"])
        if args.resume:
            dist.load_persistables(exe, ckpt, net["main"])
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            losses = [
                float(
                    exe.run(net["main"], feed={"image": x_train[i], "label": y_train[i]}, fetch_list=[net["loss"]])[0]
                )
                for i in sampler
            ]
            history["loss"].append(float(np.mean(losses)))
            (acc,) = exe.run(net["test"], feed={"image": x_test, "label": y_test}, fetch_list=[net["acc"]])
            history["test_acc"].append(float(acc))
            dist.save_persistables(exe, ckpt, net["main"])  # rank 0 writes, every rank waits
            report(rank, f"epoch {epoch + 1}: loss {history['loss'][-1]:.4f}, test acc {float(acc):.4f}", args)
        result: dict[str, Any] = {"history": history, "steps_per_epoch": len(sampler), "checkpoint": ckpt}
        with net["average"].apply(exe):
            (acc,) = exe.run(net["test"], feed={"image": x_test, "label": y_test}, fetch_list=[net["acc"]])
            result["averaged_test_accuracy"] = float(acc)
            if rank == 0:
                model_dir = os.path.join(args.out, "inference_model")
                mg.io.save_inference_model(model_dir, ["image"], [net["probs"]], exe, main_program=net["main"])
                result["model_dir"] = model_dir
        result["parameters"] = {
            p.name: np.array(scope.find_var(p.name).get_tensor()) for p in net["main"].all_parameters()
        }
    return result


def train_eager(args: argparse.Namespace, data: tuple[np.ndarray, ...], rank: int) -> dict[str, Any]:
    x_train, y_train, x_test, y_test = data
    sampler = dist.DistributedBatchSampler(len(x_train), args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    history: dict[str, list[float]] = {"loss": [], "test_acc": []}
    with mg.dygraph.guard(seed=args.seed + rank):
        model = dist.DataParallel(mg.nn.SyncBatchNorm.convert_sync_batchnorm(DigitsNet()))
        opt = mg.optimizer.Momentum(args.lr, momentum=0.9, parameter_list=model.parameters())
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            model.train()
            losses = []
            for idx in sampler:
                logits = model(mg.dygraph.to_variable(x_train[idx]))
                label = mg.dygraph.to_variable(y_train[idx])
                loss = mg.layers.mean(mg.layers.softmax_with_cross_entropy(logits, label))
                loss.backward()  # gradients averaged over the processes here
                opt.minimize(loss)
                model.clear_gradients()
                losses.append(float(loss.numpy()))
            model.eval()
            probs = mg.layers.softmax(model(mg.dygraph.to_variable(x_test))).numpy()
            history["loss"].append(float(np.mean(losses)))
            history["test_acc"].append(float((probs.argmax(axis=1) == y_test[:, 0]).mean()))
            report(
                rank, f"epoch {epoch + 1}: loss {history['loss'][-1]:.4f}, test acc {history['test_acc'][-1]:.4f}", args
            )
        parameters = model.state_dict()
    return {"history": history, "steps_per_epoch": len(sampler), "parameters": parameters}


def report(rank: int, line: str, args: argparse.Namespace) -> None:
    if rank == 0 and not args.quiet:
        print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16, help="samples per process per step")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="out/train_digits_distributed", help="folder for checkpoint and model")
    parser.add_argument("--limit", type=int, default=0, help="use only this many training samples (tests)")
    parser.add_argument("--eager", action="store_true", help="dygraph mode: SyncBatchNorm + DataParallel")
    parser.add_argument("--resume", action="store_true", help="start from the checkpoint in --out")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    env = dist.init_parallel_env()
    x_train, y_train, x_test, y_test = load_data(args.seed)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    if env.rank == 0:
        os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    train = train_eager if args.eager else train_static
    result = train(args, (x_train, y_train, x_test, y_test), env.rank)
    seconds = time.perf_counter() - start
    samples = result["steps_per_epoch"] * args.batch_size * env.world_size * args.epochs
    result.update(
        rank=env.rank,
        world_size=env.world_size,
        seconds=seconds,
        test_accuracy=result["history"]["test_acc"][-1],
        samples_per_second=samples / seconds,
    )
    line = (
        f"{env.world_size} process(es) x batch {args.batch_size}: test accuracy {result['test_accuracy']:.4f}"
        + (f" (averaged weights {result['averaged_test_accuracy']:.4f})" if "averaged_test_accuracy" in result else "")
        + f"; {seconds:.1f} s, {result['samples_per_second']:.0f} samples/s"
    )
    if env.rank == 0:
        print(line, flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
