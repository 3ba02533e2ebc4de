"""The optional `onnx` package, imported on first use.

`import minigraph` (and `import minigraph.onnx`) must work with numpy alone, so nothing here
imports `onnx` at module level; the exporter asks for it when it runs and gets a clear
error naming the extra to install when it is missing.
"""

from __future__ import annotations

from types import ModuleType

from minigraph.errors import ExportError

INSTALL_HINT = "pip install 'minigraph[onnx]' (or: pip install onnx onnxruntime)"

# Lowest opset the mapping is written for: Unsqueeze/ReduceSum/Split take their axes and
# sizes as inputs from 13 on, and Softmax normalises along one axis (Paddle's meaning).
MIN_OPSET = 13


def require_onnx() -> ModuleType:
    """The `onnx` module, or ExportError telling how to install it."""
    try:
        # NOTE: a function-level import on purpose: onnx is an optional dependency.
        import onnx
    except ImportError as e:
        raise ExportError(f"ONNX export needs the onnx package, which is not installed: {INSTALL_HINT}") from e
    return onnx


def check_opset(onnx: ModuleType, opset_version: int) -> None:
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset_version, bool) or not isinstance(opset_version, int):
        raise ExportError(f"opset_version must be an int, got {opset_version!r}")
    if not MIN_OPSET <= opset_version <= newest:
        raise ExportError(
            f"opset_version {opset_version} is not supported: minigraph exports opsets {MIN_OPSET} to {newest} "
            f"(the newest your onnx {onnx.__version__} knows)"
        )
