"""Convolution and pooling layers: Conv2D, Pool2D."""

from __future__ import annotations

from typing import Any

from minigraph.errors import GraphBuildError
from minigraph.ir.variable import Variable
from minigraph.layers.conv import append_conv2d, append_pool2d, conv2d_setup, pool2d_attrs
from minigraph.nn.layer.base import Layer
from minigraph.ops.layout import channel_axis
from minigraph.types import shape_text

__all__ = ["Conv2D", "Pool2D"]


class Conv2D(Layer):
    """2-D convolution layer: `weight` [num_filters, num_channels / groups, kh, kw]
    (`conv2d_N.w_0`, Normal(0, sqrt(2 / (kh * kw * num_channels))) by default) and `bias`
    [num_filters] (`conv2d_N.b_0`, None with bias_attr=False), then `act`. `use_cudnn` is
    accepted and ignored (minigraph runs on the CPU), as in Pool2D.

        conv = mg.nn.Conv2D(3, 8, filter_size=3, padding=1, act="relu")
        y = conv(x)  # x: [N, 3, H, W] -> y: [N, 8, H, W]
    """

    def __init__(
        self,
        num_channels: int,
        num_filters: int,
        filter_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        param_attr: Any = None,
        bias_attr: Any = None,
        act: str | None = None,
        data_format: str = "NCHW",
        dtype: str = "float32",
        use_cudnn: bool = True,
    ) -> None:
        super().__init__("conv2d", dtype)
        self._attrs, shape, init = conv2d_setup(
            self._full_name, num_channels, num_filters, filter_size, stride, padding, dilation, groups, data_format
        )
        self._num_channels = num_channels
        weight = self.create_parameter(shape, param_attr, default_initializer=init)
        if weight is None:
            raise GraphBuildError(f"{self._full_name}: param_attr=False is not allowed; a convolution needs its filter")
        self.weight = weight
        self.bias = self.create_parameter((num_filters,), bias_attr, is_bias=True)
        self._act = act

    def forward(self, input: Variable) -> Variable:
        c = input.shape[channel_axis(self._attrs["data_format"])] if len(input.shape) == 4 else None
        if c is not None and c not in (-1, self._num_channels):
            raise GraphBuildError(
                f"{self._full_name}: Conv2D was built for {self._num_channels} input channels, but "
                f"{input.name!r} {shape_text(input.shape)} ({self._attrs['data_format']}) has {c}"
            )
        return append_conv2d(self._helper, input, self.weight, self.bias, self._attrs, self._act)


class Pool2D(Layer):
    """Max or average pooling (see `minigraph.layers.pool2d`).

    pool = mg.nn.Pool2D(pool_size=2, pool_type="max", pool_stride=2)
    """

    def __init__(
        self,
        pool_size: Any = -1,
        pool_type: str = "max",
        pool_stride: Any = 1,
        pool_padding: Any = 0,
        global_pooling: bool = False,
        ceil_mode: bool = False,
        exclusive: bool = True,
        data_format: str = "NCHW",
        use_cudnn: bool = True,
    ) -> None:
        super().__init__("pool2d")
        self._attrs = pool2d_attrs(
            self._full_name,
            pool_size,
            pool_type,
            pool_stride,
            pool_padding,
            global_pooling,
            ceil_mode,
            exclusive,
            data_format,
        )

    def forward(self, input: Variable) -> Variable:
        return append_pool2d(self._helper, input, self._attrs)
