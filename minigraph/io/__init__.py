"""Saving and loading: checkpoints, programs and inference models, as data-only files.

* `save_persistables` / `load_persistables`: every persistable variable (parameters,
  batch_norm statistics, optimizer state, learning rates) in one `.npz` plus a JSON manifest.
* `save_program` / `load_program`: a Program as versioned JSON.
* `save_inference_model` / `load_inference_model`: the test-mode program pruned to the
  targets (`model.json`) and the weights it uses (`params.npz`).

Files hold data only: JSON, and arrays read with `np.load(..., allow_pickle=False)`, so
loading a file can never run code. Writes are atomic (temporary files, then `os.replace`),
and loading checks everything (format version, ops against the registry, every tensor's
presence, dtype and shape) before it touches the scope; errors are ModelFormatError naming
the file and the item.
"""

from minigraph.io.files import ModelFileNotFoundError
from minigraph.io.inference import load_inference_model, save_inference_model
from minigraph.io.persistables import load_persistables, save_persistables
from minigraph.io.program_file import load_program, save_program

__all__ = [
    "ModelFileNotFoundError",
    "load_inference_model",
    "load_persistables",
    "load_program",
    "save_inference_model",
    "save_persistables",
    "save_program",
]
