"""Saving and loading: checkpoints, programs and inference models, as data-only files.

* `save_persistables` / `load_persistables`: every persistable variable (parameters,
  batch_norm statistics, optimizer state, learning rates) in one `.npz` plus a JSON manifest.
* `save_program` / `load_program`: a Program as versioned JSON.
* `save_inference_model` / `load_inference_model`: the test-mode program pruned to the
  targets (`model.json`) and the weights it uses (`model.<hex>.npz`).

Files hold data only: JSON (parsed with bounds on nesting and number sizes), and arrays
read with `allow_pickle=False` after their headers are checked against the manifest, so
loading a file can never run code or allocate more than the manifest declares. A save has
one commit point (minigraph.io.atomic): the archive goes under a content-addressed name,
then the manifest naming it replaces the old one, so an interrupted save leaves the previous
model whole. Loading checks everything (format version, block tree, ops against the
registry, every tensor's presence, dtype and shape) before it touches the scope; errors are
ModelFormatError naming the file and the item.
"""

from minigraph.io.dataloader import DataLoader, batch, buffered, chain, compose, firstn, map_readers, shuffle  # noqa: F401
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
