"""ModelAverage's swap: the ops that put the averaged values into the parameters (saving
the trained ones) and back, as static programs (`apply_program`, `restore_program`) or run
at once through an eager builder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minigraph.ir.builder import Builder, StaticBuilder
from minigraph.ir.operator import OpRole
from minigraph.ir.program import Program


@dataclass
class Averaged:
    """One averaged parameter and its accumulators (static Variables or eager variables)."""

    param: Any
    acc: dict[str, Any]


def swap_programs(items: list[Averaged]) -> tuple[Program, Program]:
    """The static programs `apply` and `restore` run: swap the averages in, the trained values back."""
    apply_prog, restore_prog = Program(), Program()
    for prog in (apply_prog, restore_prog):
        block = prog.global_block()
        for item in items:
            for v in (item.param, *item.acc.values()):
                if not block.has_var(v.name):
                    block.create_var(v.name, v.shape, v.dtype, persistable=True, stop_gradient=True)
    apply_builder, rblock = StaticBuilder(apply_prog), restore_prog.global_block()
    for item in items:
        append_apply_ops(apply_builder, item)
        rblock.append_op("assign", {"X": item.acc["restore"].name}, {"Out": item.param.name})
    return apply_prog, restore_prog


def append_apply_ops(builder: Builder, item: Averaged, role: int = OpRole.FORWARD) -> None:
    """restore = param; param = (sum_1+sum_2+sum_3) / (num_accumulates+old_num_accumulates).

    Paddle's op sequence (assign, sum, sum, cast, cast, elementwise_div, assign). Both sums
    and counts are cast to the parameter's dtype before dividing: float32 like Paddle for
    float32 parameters, float64 kept for float64 ones."""
    p, a = item.param, item.acc
    dtype, shape = p.dtype, tuple(p.shape)

    def tmp(kind: str, shp: tuple[int, ...], dt: str) -> Any:
        return builder.create_var(builder.names.generate(f"{p.name}_average_{kind}"), shp, dt, stop_gradient=True)

    def emit(op: str, inputs: dict[str, Any], outputs: dict[str, Any], attrs: dict[str, Any] | None = None) -> None:
        builder.append_op(op, inputs, outputs, attrs, role=role)

    emit("assign", {"X": p}, {"Out": a["restore"]})
    total = tmp("sum", shape, dtype)
    emit("sum", {"X": [a["sum_1"], a["sum_2"], a["sum_3"]]}, {"Out": total})
    count = tmp("count", (1,), "int64")
    emit("sum", {"X": [a["num_accumulates"], a["old_num_accumulates"]]}, {"Out": count})
    total_f = tmp("sum_cast", shape, dtype)
    emit("cast", {"X": total}, {"Out": total_f}, {"in_dtype": dtype, "out_dtype": dtype})
    count_f = tmp("count_cast", (1,), dtype)
    emit("cast", {"X": count}, {"Out": count_f}, {"in_dtype": "int64", "out_dtype": dtype})
    if len(shape) == 0:  # a 0-D parameter: divide by a 0-D count so the result keeps shape ()
        flat = tmp("count_0d", (), dtype)
        emit("reshape2", {"X": count_f}, {"Out": flat, "XShape": tmp("xshape", (0, 1), dtype)}, {"shape": []})
        count_f = flat
    avg = tmp("value", shape, dtype)
    emit("elementwise_div", {"X": total_f, "Y": count_f}, {"Out": avg})
    emit("assign", {"X": avg}, {"Out": p})
