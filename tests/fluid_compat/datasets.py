"""Reader creators standing in for `paddle.dataset.*` (no downloads): each returns a reader,
a function yielding one sample tuple at a time, as Paddle's dataset readers do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Reader = Callable[[], Iterator[Any]]


def uci_housing(n: int = 400, seed: int = 0) -> tuple[Reader, Reader]:
    """Like paddle.dataset.uci_housing: 13 features scaled to about [-0.5, 0.5] and a price
    around 22 (a fixed linear function plus noise); returns (train, test)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=8.0, size=13)
    x = rng.uniform(-0.5, 0.5, size=(n, 13)).astype("float32")
    y = (22.0 + x @ w + rng.normal(scale=2.0, size=n)).astype("float32").reshape(-1, 1)
    cut = int(0.8 * n)

    def reader(lo: int, hi: int) -> Reader:
        return lambda: iter([(x[i], y[i]) for i in range(lo, hi)])

    return reader(0, cut), reader(cut, n)


def digits(size: int = 28) -> tuple[Reader, Reader]:
    """Like paddle.dataset.mnist, from scikit-learn's bundled 8x8 digits: each image scaled
    up to size x size, flattened, in [-1, 1]; label an int. Returns (train, test)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images / 16.0
    scale = size // 8
    big = np.kron(images, np.ones((scale, scale)))
    pad = (size - 8 * scale) // 2
    big = np.pad(big, [(0, 0), (pad, size - 8 * scale - pad), (pad, size - 8 * scale - pad)])
    flat = (big.reshape(len(big), -1) * 2.0 - 1.0).astype("float32")
    order = np.random.default_rng(0).permutation(len(flat))
    cut = int(0.8 * len(flat))

    def reader(idx: np.ndarray) -> Reader:
        return lambda: iter([(flat[i], int(data.target[i])) for i in idx])

    return reader(order[:cut]), reader(order[cut:])


def cifar_like(n: int, size: int, seed: int = 0) -> tuple[Reader, Reader]:
    """Like paddle.dataset.cifar.train10: [3 * size * size] float images of 10 classes, each
    class a colour and stripe pattern plus noise; returns (train, test)."""
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(10, 3, size, size))
    labels = rng.integers(0, 10, size=n)
    images = (protos[labels] + rng.normal(scale=1.0, size=(n, 3, size, size))).astype("float32")
    flat = images.reshape(n, -1)
    cut = int(0.8 * n)

    def reader(lo: int, hi: int) -> Reader:
        return lambda: iter([(flat[i], int(labels[i])) for i in range(lo, hi)])

    return reader(0, cut), reader(cut, n)


def imikolov(vocab: int = 1000, sentences: int = 60, length: int = 10, n: int = 5, seed: int = 0) -> Reader:
    """Like paddle.dataset.imikolov.train(word_dict, n): n-gram tuples of word ids, from a
    corpus of `sentences` fixed sentences (each repeated), so the next word is predictable
    from the four before it."""
    rng = np.random.default_rng(seed)
    corpus = rng.integers(0, vocab, size=(sentences, length))

    def reader() -> Iterator[tuple[int, ...]]:
        for _ in range(8):
            for sentence in corpus:
                for i in range(length - n + 1):
                    yield tuple(int(w) for w in sentence[i : i + n])

    return reader


def movielens(n: int = 2000, users: int = 50, movies: int = 40, seed: int = 0) -> tuple[Reader, Reader]:
    """Like paddle.dataset.movielens: (user id, gender, age, job, movie id, categories,
    title words, score), with the variable-length categories and titles padded to a fixed
    length (0 is the padding id) and their masks added. Scores 1..5 come from hidden tastes
    of the users for the movies' categories; returns (train, test)."""
    rng = np.random.default_rng(seed)
    user_feats = [(int(rng.integers(2)), int(rng.integers(7)), int(rng.integers(21))) for _ in range(users)]
    taste = rng.normal(size=(users, 18))
    movie_cats = [rng.choice(np.arange(1, 19), size=rng.integers(1, 4), replace=False) for _ in range(movies)]
    movie_titles = [rng.integers(1, 500, size=rng.integers(2, 8)) for _ in range(movies)]

    def padded(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        out, mask = np.zeros(length, "int64"), np.zeros((length, 1), "float32")
        out[: len(ids)], mask[: len(ids)] = ids, 1.0
        return out, mask

    rows = []
    for _ in range(n):
        u, m = int(rng.integers(users)), int(rng.integers(movies))
        liking = taste[u, movie_cats[m] - 1].mean()
        score = float(np.clip(np.round(3 + 1.5 * liking), 1, 5))
        cats, cat_mask = padded(movie_cats[m], 3)
        title, title_mask = padded(movie_titles[m], 8)
        rows.append((u + 1, *user_feats[u], m + 1, cats, cat_mask, title, title_mask, score))
    cut = int(0.8 * n)

    def reader(lo: int, hi: int) -> Reader:
        return lambda: iter(rows[lo:hi])

    return reader(0, cut), reader(cut, n)
