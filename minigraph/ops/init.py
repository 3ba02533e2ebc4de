"""Random initializer ops (run by startup programs). A seed of 0 means "fresh entropy";
the executor replaces it with a per-op seed derived from Program.random_seed when set."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.registry import OpDef, register
from minigraph.types import normalize_dtype


def rng_for(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed if seed else None)


def _shape_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    return {"Out": (tuple(attrs["shape"]), normalize_dtype(attrs["dtype"]))}


def _uniform(a: dict[str, Any]) -> tuple[np.ndarray]:
    out = rng_for(a["seed"]).uniform(a["min"], a["max"], size=a["shape"])
    return (out.astype(a["dtype"]),)


def _gaussian(a: dict[str, Any]) -> tuple[np.ndarray]:
    out = rng_for(a["seed"]).normal(a["mean"], a["std"], size=a["shape"])
    return (out.astype(a["dtype"]),)


def _truncated_gaussian(a: dict[str, Any]) -> tuple[np.ndarray]:
    # Redraw values outside two standard deviations, as truncated-normal initializers do.
    rng = rng_for(a["seed"])
    out = rng.normal(0.0, 1.0, size=a["shape"])
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return ((out * a["std"] + a["mean"]).astype(a["dtype"]),)


register(
    OpDef(
        "uniform_random",
        (),
        ("Out",),
        _uniform,
        _shape_infer,
        attrs={"shape": [], "dtype": "float32", "min": -1.0, "max": 1.0, "seed": 0},
        no_grad="no inputs: a random constant",
    )
)
for _type, _kernel in (("gaussian_random", _gaussian), ("truncated_gaussian_random", _truncated_gaussian)):
    register(
        OpDef(
            _type,
            (),
            ("Out",),
            _kernel,
            _shape_infer,
            attrs={"shape": [], "dtype": "float32", "mean": 0.0, "std": 1.0, "seed": 0},
            no_grad="no inputs: a random constant",
        )
    )
