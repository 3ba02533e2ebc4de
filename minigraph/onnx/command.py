"""`minigraph export MODEL -o model.onnx`: the CLI's export subcommand, kept here so the
command line (minigraph/cli.py) only wires it in."""

from __future__ import annotations

import argparse
import os
from typing import Any

from minigraph.errors import ExportError
from minigraph.onnx.export import export_inference_model


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a saved inference model as an ONNX file",
        description=(
            "Export an inference model (a directory written by minigraph.io.save_inference_model) to ONNX: its "
            "feeds become the graph inputs and its fetch targets the outputs, under their variable names, with "
            "a symbolic batch dimension. Needs the onnx package (pip install 'minigraph[onnx]')."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="an inference model directory written by save_inference_model")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the ONNX file to write (e.g. model.onnx)")
    p.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset version (default 17)")


def run(args: argparse.Namespace) -> int:
    """Export and print the written path; errors are ExportError/MinigraphError (exit 1)."""
    if not os.path.isdir(args.model):
        raise ExportError(f"{args.model}: not an inference model directory (write one with save_inference_model)")
    print(export_inference_model(args.model, args.output, opset_version=args.opset))
    return 0
