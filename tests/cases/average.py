"""Cases for minigraph/ops/average.py: `average_accumulates` forward against a numpy reference
of Paddle's window algorithm (paddle_behaviour.md 6.2). The accumulators and counters are
persistable in-place slots; the op has no gradient. The 16384 fold and whole trajectories are
in tests/test_model_average.py."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(11)
p23 = rng.normal(size=(2, 3))
s1, s2, s3 = rng.normal(size=(3, 2, 3))

_PERSIST = (
    "in_sum_1",
    "in_sum_2",
    "in_sum_3",
    "in_num_accumulates",
    "in_old_num_accumulates",
    "in_num_updates",
)


def _ref(i, a):
    """Paddle's average_accumulates, step by step in numpy."""
    n_upd = int(i["in_num_updates"][0]) + 1
    n_acc = int(i["in_num_accumulates"][0]) + 1
    old = int(i["in_old_num_accumulates"][0])
    sum_1 = i["in_sum_1"] + i["param"]
    sum_2, sum_3 = i["in_sum_2"].copy(), i["in_sum_3"].copy()
    if n_upd % 16384 == 0:
        sum_2 = sum_2 + sum_1
        sum_1 = np.zeros_like(sum_1)
    min_window, max_window = a.get("min_average_window", 10000), a.get("max_average_window", 10000)
    threshold = int(np.float32(n_upd) * np.float32(a["average_window"]))
    if n_acc >= min_window and n_acc >= min(max_window, threshold):
        sum_3 = sum_1 + sum_2
        sum_1, sum_2 = np.zeros_like(sum_1), np.zeros_like(sum_2)
        old, n_acc = n_acc, 0
    return {
        "out_sum_1": sum_1,
        "out_sum_2": sum_2,
        "out_sum_3": sum_3,
        "out_num_accumulates": np.array([n_acc], "int64"),
        "out_old_num_accumulates": np.array([old], "int64"),
        "out_num_updates": np.array([n_upd], "int64"),
    }


def _case(name, n_acc, old, n_upd, attrs, param=p23, sums=(s1, s2, s3)):
    inputs = {
        "param": param,
        "in_sum_1": sums[0],
        "in_sum_2": sums[1],
        "in_sum_3": sums[2],
        "in_num_accumulates": np.array([n_acc], "int64"),
        "in_old_num_accumulates": np.array([old], "int64"),
        "in_num_updates": np.array([n_upd], "int64"),
    }
    return OpCase("average_accumulates", inputs, attrs, ref=_ref, name=name, persistable=_PERSIST)


W = {"average_window": 0.5, "min_average_window": 2, "max_average_window": 4}

CASES = [
    _case("accumulate", 0, 0, 0, W),  # first step: below min window, sum_1 += param only
    _case("roll_over_at_min", 1, 0, 1, W),  # num_acc reaches 2 >= min(4, int(2*0.5)=1)
    _case("truncated_threshold", 2, 2, 6, W),  # t=7: int(3.5)=3, num_acc 3 rolls over
    _case("below_threshold", 1, 3, 8, W),  # t=9: threshold int(4.5)=4 capped at 4, num_acc 2 waits
    _case("max_window_caps", 3, 4, 99, W),  # threshold int(50)=50, capped at max 4: rolls over
    _case("fold_16384", 5, 0, 16383, {"average_window": 1.0, "min_average_window": 100, "max_average_window": 200}),
    _case("fold_then_roll", 9, 7, 16383, {"average_window": 0.0, "min_average_window": 10, "max_average_window": 10}),
    _case("defaults", 9999, 0, 9999, {"average_window": 0.15}),  # 10000 >= min(10000, 1500): rolls
    _case(
        "scalar_param",
        0,
        3,
        3,
        W,
        param=np.array(1.25),
        sums=(np.array(0.5), np.array(0.0), np.array(2.0)),
    ),
]
