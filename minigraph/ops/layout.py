"""Data layouts shared by the image ops (conv2d, pool2d, batch_norm) and their builders."""

from __future__ import annotations

LAYOUTS = ("NCHW", "NHWC")


def channel_axis(data_layout: str, ndim: int = 4) -> int:
    """The channel axis of an `ndim`-D value: 1 under NCHW, the last axis under NHWC (so a
    2-D [N, C] value has its channels on axis 1 either way)."""
    return 1 if data_layout == "NCHW" else ndim - 1
