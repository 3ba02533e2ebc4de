"""save_program / load_program: a Program as a JSON file (`Program.to_dict()`)."""

from __future__ import annotations

import os
from typing import Any

from minigraph.errors import ArgumentTypeError
from minigraph.io.atomic import write_file
from minigraph.io.files import dump_json, read_json
from minigraph.ir.program import Program, program_from_dict


def save_program(program: Program, path: str | os.PathLike[str]) -> None:
    """Write `program` to `path` as JSON (with a format marker and version), atomically.

    mg.io.save_program(main, "train_program.json")
    """
    if not isinstance(program, Program):
        raise ArgumentTypeError(f"save_program expects a Program, got {type(program).__name__}")
    data = program.to_dict()
    write_file(os.fspath(path), lambda f: dump_json(data, f))


def load_program(path: str | os.PathLike[str]) -> Program:
    """Read a program written by `save_program`. The file is parsed as data only; every op
    is checked against the op registry (unknown op, missing slot, bad attr type: a
    ModelFormatError naming the file and the op), and attrs missing from the file get their
    defaults.

        main = mg.io.load_program("train_program.json")
    """
    path = os.fspath(path)
    data: Any = read_json(path, "program")
    return program_from_dict(data, source=path)
