"""Normalization layers (BatchNorm, SyncBatchNorm)."""

from __future__ import annotations

from typing import Any

from minigraph.errors import GraphBuildError, OpTypeError
from minigraph.initializer import Constant
from minigraph.layers.norm import affine_attr, append_batch_norm, check_momentum, stat_attr
from minigraph.nn.layer.base import Layer, mode_follows_training
from minigraph.ops.norm import BN_DTYPES, check_hyper, check_layout

__all__ = ["BatchNorm", "SyncBatchNorm"]


class BatchNorm(Layer):
    """Batch normalisation with parameters `weight` (scale, 1), `bias` (0) and the moving
    statistics `moving_mean` (0) and `moving_variance` (1), named `batch_norm_N.w_0`,
    `.b_0`, `.w_1`, `.w_2` unless param_attr/bias_attr/moving_*_name name them.

    In static mode the op's `is_test` is the constructor's value (`eval()` does not change
    an op already built; use `program.clone(for_test=True)` for a test program). In dygraph
    mode a layer in eval() mode uses the running statistics. `trainable_statistics=True`
    keeps batch statistics in test mode; a test-mode op never updates the running statistics
    (a deliberate difference from Paddle, see minigraph/ops/norm.py).

        bn = mg.nn.BatchNorm(16, act="relu")
        y = bn(x)                    # x: [N, 16, H, W]
    """

    _op_type = "batch_norm"

    def __init__(
        self,
        num_channels: int,
        act: str | None = None,
        is_test: bool = False,
        momentum: float = 0.9,
        epsilon: float = 1e-05,
        param_attr: Any = None,
        bias_attr: Any = None,
        dtype: str = "float32",
        data_layout: str = "NCHW",
        in_place: bool = False,
        moving_mean_name: str | None = None,
        moving_variance_name: str | None = None,
        do_model_average_for_mean_and_var: bool = True,
        use_global_stats: bool = False,
        trainable_statistics: bool = False,
    ) -> None:
        super().__init__("batch_norm", dtype)
        where = self.full_name()
        if isinstance(num_channels, bool) or not isinstance(num_channels, int) or num_channels <= 0:
            raise GraphBuildError(f"{where}: num_channels must be a positive int, got {num_channels!r}")
        if dtype not in BN_DTYPES:
            raise OpTypeError(f"{where}: dtype must be float32 or float64, got {dtype!r}")
        check_momentum(where, momentum)
        try:
            check_layout(data_layout)
            check_hyper(epsilon, momentum)
        except GraphBuildError as e:
            raise GraphBuildError(f"{where}: {e}") from None
        shape = (num_channels,)
        avg = bool(do_model_average_for_mean_and_var)
        self.weight = self.create_parameter(shape, affine_attr(param_attr, 1.0), dtype, False, Constant(1.0))
        self.bias = self.create_parameter(shape, affine_attr(bias_attr, 0.0), dtype, True, Constant(0.0))
        self.moving_mean = self.create_parameter(shape, stat_attr(moving_mean_name, 0.0, avg), dtype)
        self.moving_variance = self.create_parameter(shape, stat_attr(moving_variance_name, 1.0, avg), dtype)
        self._num_channels = num_channels
        self._act = act
        self._is_test = bool(is_test)
        self._momentum = momentum
        self._epsilon = epsilon
        self._data_layout = data_layout
        self._in_place = bool(in_place)
        self._use_global_stats = bool(use_global_stats)
        self._trainable_statistics = bool(trainable_statistics)

    def _op_is_test(self) -> bool:
        """The op's is_test: the constructor's value in static mode (as in Paddle, eval()
        does not rewrite a static op); in dygraph mode eval() also selects test mode."""
        if mode_follows_training():  # dygraph mode, or jit.trace recording this layer
            return self._is_test or not self.training
        return self._is_test

    def forward(self, input: Any) -> Any:
        attrs = {
            "epsilon": self._epsilon,
            "momentum": self._momentum,
            "is_test": self._op_is_test(),
            "data_layout": self._data_layout,
            "use_global_stats": self._use_global_stats,
            "trainable_statistics": self._trainable_statistics,
        }
        params = (self.weight, self.bias, self.moving_mean, self.moving_variance)
        return append_batch_norm(self._helper, input, params, attrs, self._in_place, self._act, self._op_type)


class SyncBatchNorm(BatchNorm):
    """BatchNorm whose batch statistics are those of the global batch of a data-parallel
    job (the `sync_batch_norm` op); BatchNorm's arguments and parameters. In a job of one
    process it computes exactly what BatchNorm computes.

        model = mg.nn.SyncBatchNorm.convert_sync_batchnorm(model)   # every BatchNorm in it
    """

    _op_type = "sync_batch_norm"

    @classmethod
    def convert_sync_batchnorm(cls, layer: Layer) -> Layer:
        """`layer` with every BatchNorm in it (itself included) replaced by a SyncBatchNorm
        sharing its parameters and settings; returns the converted layer."""
        if type(layer) is BatchNorm:
            return cls._from(layer)
        for owner in layer.sublayers(include_self=True):
            for name, sub in list(owner._sub_layers.items()):
                if type(sub) is BatchNorm:
                    setattr(owner, name, cls._from(sub))
        return layer

    @classmethod
    def _from(cls, bn: BatchNorm) -> SyncBatchNorm:
        sync = cls.__new__(cls)
        sync.__dict__.update(bn.__dict__)  # the same parameters, helper (names) and settings
        return sync
