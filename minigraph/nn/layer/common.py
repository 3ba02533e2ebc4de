"""Linear, Embedding and Sequential."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigraph.layers.indexing import embedding_table
from minigraph.nn.layer.base import Layer
from minigraph.param_attr import ParamAttr


class Linear(Layer):
    """y = act(x @ weight + bias), weight [input_dim, output_dim] (Paddle's layout)."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        param_attr: Any = None,
        bias_attr: Any = None,
        act: str | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__("linear", dtype)
        self.weight = self.create_parameter((input_dim, output_dim), param_attr)
        self.bias = self.create_parameter((output_dim,), bias_attr, is_bias=True)
        self._act = act

    def forward(self, x: Any) -> Any:
        helper = self._helper
        out = helper.create_tmp(x.dtype)
        helper.append_op("matmul", {"X": x, "Y": self.weight}, {"Out": out})
        if self.bias is not None:
            biased = helper.create_tmp(x.dtype)
            helper.append_op("elementwise_add", {"X": out, "Y": self.bias}, {"Out": biased}, {"axis": -1})
            out = biased
        return helper.append_activation(out, self._act)


class Embedding(Layer):
    """fluid's dygraph Embedding: a [vocabulary, width] table `weight` (`embedding_N.w_0`,
    Xavier by default) read by `lookup_table_v2`: int64 ids [...] -> [..., width]. Rows at
    `padding_idx` (negative: counted from the end) read as zeros and get no gradient;
    `is_sparse` is accepted (the gradient is dense).

        emb = mg.nn.Embedding(size=[1000, 32])
        vectors = emb(ids)
    """

    def __init__(
        self,
        size: Sequence[int],
        is_sparse: bool = False,
        is_distributed: bool = False,
        padding_idx: int | None = None,
        param_attr: ParamAttr | str | bool | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__("embedding", dtype)
        self.weight, pad = embedding_table(self._helper, size, padding_idx, param_attr, dtype)
        self._attrs = {"is_sparse": bool(is_sparse), "is_distributed": bool(is_distributed), "padding_idx": pad}

    def forward(self, input: Any) -> Any:
        w = self.weight
        return self._helper.emit("lookup_table_v2", {"W": w, "Ids": input}, self._attrs, dtype=w.dtype)


class Sequential(Layer):
    """Calls its sublayers in order."""

    def __init__(self, *layers: Layer) -> None:
        super().__init__("sequential")
        for i, layer in enumerate(layers):
            self.add_sublayer(str(i), layer)

    def forward(self, x: Any) -> Any:
        for layer in self._sub_layers.values():
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Layer:
        return list(self._sub_layers.values())[i]

    def __len__(self) -> int:
        return len(self._sub_layers)
