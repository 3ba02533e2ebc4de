"""Dropout layer."""

from __future__ import annotations

from minigraph.ir.variable import Variable
from minigraph.layers.conv import append_dropout, dropout_attrs
from minigraph.nn.layer.base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Zero each element with probability `p` while training (see `minigraph.layers.dropout`
    for the two implementations; the default is fluid's "downgrade_in_infer").

    The mode is read when the layer is called: a layer in `train()` mode (the default) builds
    a dropout op with is_test=False, one in `eval()` mode builds is_test=True. A static program
    built in training mode still turns into a test program with `clone(for_test=True)`.

        drop = mg.nn.Dropout(p=0.3)
        h = drop(h)
    """

    def __init__(
        self, p: float = 0.5, seed: int | None = None, dropout_implementation: str = "downgrade_in_infer"
    ) -> None:
        super().__init__("dropout")
        dropout_attrs(self._full_name, p, False, seed, dropout_implementation)  # fail early on bad arguments
        self.p = p
        self._seed = seed
        self._implementation = dropout_implementation

    def forward(self, input: Variable) -> Variable:
        attrs = dropout_attrs(self._full_name, self.p, not self.training, self._seed, self._implementation)
        return append_dropout(self._helper, input, attrs)
