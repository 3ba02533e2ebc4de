"""ONNX export (extra `minigraph[onnx]`): a test-mode program, or a saved inference model,
as an ONNX file that ONNX Runtime runs with minigraph's numbers.

    import minigraph as mg
    mg.onnx.export(test_program, "model.onnx", feed=["x"], fetch=[logits])
    mg.onnx.export_inference_model("model_dir", "model.onnx")   # or: minigraph export model_dir -o model.onnx

Importing this package does not import `onnx`; the functions do, and raise ExportError
with the install command when it is missing. The op mapping lives in `convert_*.py`, one
small function per op type.
"""

from minigraph.onnx.emitter import CONVERTERS
from minigraph.onnx.export import export, export_inference_model


def supported_ops() -> list[str]:
    """The op types `export` maps, sorted."""
    return sorted(CONVERTERS)


__all__ = ["export", "export_inference_model", "supported_ops"]
