"""Linear and Sequential."""

from __future__ import annotations

from typing import Any

from minigraph.nn.layer.base import Layer


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
