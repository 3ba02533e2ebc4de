"""The `minigraph` command: draw a saved program (`viz`) or describe it (`summary`).

    minigraph viz model.json -o graph.svg --hide-grad --highlight 'batch_norm|bn_'
    minigraph summary inference_dir/
    minigraph export inference_dir/ -o model.onnx      (minigraph/onnx/command.py)

Errors are one line on stderr, `minigraph: error: ...`; exit status 0 on success, 1 when the
model cannot be read or drawn, 2 for bad usage (unknown option, unsupported output format).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from minigraph import io, viz
from minigraph.errors import MinigraphError, ModelFormatError
from minigraph.executor import Executor, Scope, scope_guard
from minigraph.io.files import read_json
from minigraph.ir.operator import OpRole
from minigraph.ir.program import Program, program_from_dict
from minigraph.ir.variable import Parameter, Variable
from minigraph.onnx import command as onnx_command
from minigraph.types import shape_text
from minigraph.viz.errors import VizError

MODEL_HELP = (
    "a saved program: a JSON file written by json.dump(program.to_dict(), f) (or by "
    "minigraph.io.save_program), or a directory holding model.json (optionally with meta.json "
    '{"feed": [names], "fetch": [names]}) or an inference model written by minigraph.io.save_inference_model'
)
FORMATS = ("svg", "png", "pdf", "html", "dot")


class CliError(Exception):
    """A failure to report as one line, with exit status `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block and exits; we want one line and a return code.
    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{self.prog}: {message} (see --help)", 2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="minigraph",
        description="Inspect minigraph programs saved to disk.",
        epilog=(
            "MODEL is " + MODEL_HELP + ". Exit status: 0 success, 1 the model could not be read or drawn, "
            "2 bad usage. Rendering svg/png/pdf/html needs Graphviz's `dot` program "
            "(apt-get install graphviz; pip cannot install it); .dot output never does."
        ),
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    v = _model_command(
        sub,
        "viz",
        "draw a program as a graph (svg, png, pdf, html or dot)",
        "Draw one block of a saved program. Ops are boxes coloured by role (forward, loss, backward, "
        "optimizer); variables are ellipses with name, dtype and shape, coloured as feed data, parameter, "
        "persistable state (moving statistics, optimizer accumulators), gradient or temporary. A value "
        "overwritten in place (batch_norm's MeanOut, an optimizer's ParamOut) appears again as a dashed "
        "'name (updated)' node. The .dot text is always written next to the output.",
    )
    v.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file; its extension (.svg .png .pdf .html .dot) picks the format unless --format is given. "
        "The DOT text also goes to OUT with a .dot extension.",
    )
    v.add_argument("-f", "--format", choices=FORMATS, help="output format (default: from the OUT extension)")
    v.add_argument(
        "--highlight",
        action="append",
        metavar="REGEX",
        help="fill variables whose name, and ops whose type, match REGEX in orange (repeatable)",
    )
    v.add_argument("--block", type=int, default=0, metavar="N", help="which block to draw (default 0)")
    for flag, text in (
        ("--hide-grad", "hide backward ops and @GRAD variables"),
        ("--hide-optimizer", "hide optimizer ops (op role Optimize)"),
        ("--no-shapes", "show variable names only, without dtype and shape"),
        ("--group-by-namescope", "draw each name_scope as a cluster"),
        ("--no-legend", "leave out the colour key"),
        ("--inline-params", "draw parameters and other persistable inputs as rows inside their op's box"),
        ("--hide-unused", "leave out temporary outputs that no drawn op reads"),
        ("--collapse-backward", "one box per forward op for its backward and optimizer ops (expandable in html)"),
    ):
        v.add_argument(flag, action="store_true", help=text)
    v.add_argument("--timeout", type=float, default=120.0, metavar="SEC", help="give up on Graphviz after SEC seconds")

    _model_command(
        sub,
        "summary",
        "print the program text, parameter count and feed/fetch targets",
        "Print the program as text, then the number of ops by role, the parameter count and, for an "
        "inference model, its feed and fetch targets. The parameter count is the sum of the sizes of the "
        "persistable Parameters and of the other persistable variables the forward ops read (such as the "
        "weights of batch_norm folded into a conv); optimizer state is not counted.",
    )
    onnx_command.add_parser(sub)
    return p


def _model_command(sub: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A subcommand whose first argument is a saved MODEL."""
    p = sub.add_parser(name, help=summary, description=description, epilog="MODEL is " + MODEL_HELP + ".")
    p.add_argument("model", metavar="MODEL", help="the saved program (see below)")
    return p


# --- loading --------------------------------------------------------------------------------
def _load_model(path: str) -> tuple[Program, list[str] | None, list[str] | None]:
    """(program, feed names, fetch names) from a saved model; the names are None when the
    model does not say (a plain program rather than an inference model).

    Uses minigraph.io's loaders, falling back to reading the JSON form
    (`json.dump(program.to_dict(), f)`, or a directory's model.json and meta.json).
    """
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file or directory")
    try:
        return _load_with_io(path)
    except Exception as e:  # noqa: BLE001 -- judged here: fall back to the plain JSON reader, or report
        io_error = e
        # minigraph.io's own format, damaged (a pickled, corrupt or mismatched weights file, a
        # bad program): reading model.json alone would hide that. Only a missing weights file
        # is fine (model.json is there, so the file missed is the archive it names).
        if _is_inference_model(path) and not isinstance(e, io.ModelFileNotFoundError):
            raise CliError(_with_path(e, path)) from None
    try:
        return _load_json(path)
    except CliError:
        raise CliError(_with_path(io_error, path)) from None


def _with_path(error: BaseException, path: str) -> str:
    msg = _one_line(error)
    return msg if path in msg else f"{path}: {msg}"


def _is_inference_model(path: str) -> bool:
    """Whether `path` is a directory whose model.json says it is minigraph.io's inference model."""
    try:
        doc = _read_json(os.path.join(path, "model.json")) if os.path.isdir(path) else None
    except CliError:
        return False
    return isinstance(doc, dict) and doc.get("format") == "minigraph.inference_model"


def _load_with_io(path: str) -> tuple[Program, list[str] | None, list[str] | None]:
    if os.path.isdir(path):
        with scope_guard(Scope()):  # loading the weights must not touch the user's global scope
            program, feeds, fetches = io.load_inference_model(path, Executor())
        return program, [_name(f) for f in feeds], [_name(f) for f in fetches]
    program = io.load_program(path)
    feeds, fetches = _feed_fetch_ops(program)
    return program, feeds, fetches


def _load_json(path: str) -> tuple[Program, list[str] | None, list[str] | None]:
    """Read a program JSON file, or a directory's model.json (a program, or the inference
    model document minigraph.io writes, whose weights are not needed to draw it)."""
    meta: dict[str, Any] = {}
    model_file = path
    if os.path.isdir(path):
        model_file = os.path.join(path, "model.json")
        if not os.path.isfile(model_file):
            raise CliError(f"{path}: a model directory must contain model.json")
        meta_file = os.path.join(path, "meta.json")
        if os.path.isfile(meta_file):
            meta = _read_json(meta_file)
            if not isinstance(meta, dict):
                raise CliError(f"{meta_file}: expected a JSON object with 'feed' and 'fetch' lists")
    data = _read_json(model_file)
    if isinstance(data, dict) and data.get("format") == "minigraph.inference_model":
        meta = {"feed": data.get("feed", []), "fetch": data.get("fetch", [])}
        data = data.get("program")
    try:
        program = program_from_dict(data, source=model_file)
    except ModelFormatError as e:
        raise CliError(_one_line(e)) from None
    feeds, fetches = _feed_fetch_ops(program)
    if "feed" in meta or "fetch" in meta:
        feeds = [str(n) for n in meta.get("feed", [])]
        fetches = [str(n) for n in meta.get("fetch", [])]
    return program, feeds, fetches


def _read_json(path: str) -> Any:
    """Parse a JSON file with minigraph.io's bounded reader (depth, number sizes), so a
    hostile file is one error line, never a traceback."""
    try:
        return read_json(path, "model")
    except ModelFormatError as e:
        raise CliError(f"{path}: not a minigraph model ({_one_line(e).removeprefix(path + ': ')})") from None
    except OSError as e:
        raise CliError(f"{path}: cannot read: {e.strerror or e}") from None


def _feed_fetch_ops(program: Program) -> tuple[list[str] | None, list[str] | None]:
    """Feed/fetch targets from embedded `feed`/`fetch` ops (Paddle-style inference programs)."""
    ops = program.global_block().ops
    feeds = sorted((op.attrs.get("col", 0), op.output_arg_names) for op in ops if op.type == "feed")
    fetches = sorted((op.attrs.get("col", 0), op.input_arg_names) for op in ops if op.type == "fetch")
    if not feeds and not fetches:
        return None, None
    return [n for _, ns in feeds for n in ns], [n for _, ns in fetches for n in ns]


def _name(item: Any) -> str:
    return item if isinstance(item, str) else str(getattr(item, "name", item))


# --- commands -------------------------------------------------------------------------------
def _output_format(out: str, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in FORMATS:
        shown = f"'.{ext}'" if ext else "no extension"
        raise CliError(
            f"cannot tell the output format of {out!r} ({shown}); use .svg, .png, .pdf, .html or .dot, "
            "or pass --format",
            2,
        )
    return ext


def _cmd_viz(args: argparse.Namespace) -> int:
    fmt = _output_format(args.output, args.format)
    program, _, _ = _load_model(args.model)
    if not 0 <= args.block < program.num_blocks:
        raise CliError(f"--block {args.block}: the program has {program.num_blocks} block(s)", 2)
    written = viz.render(
        program,
        args.output,
        format=fmt,
        timeout=args.timeout,
        block_idx=args.block,
        show_shapes=not args.no_shapes,
        show_grad=not args.hide_grad,
        show_optimizer=not args.hide_optimizer,
        highlight=args.highlight,
        group_by_namescope=args.group_by_namescope,
        legend=not args.no_legend,
        inline_params=args.inline_params,
        hide_unused=args.hide_unused,
        collapse_backward=args.collapse_backward,
        max_nodes_warning=None if fmt == "dot" else 500,
    )
    print(written)
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    program, feeds, fetches = _load_model(args.model)
    print(program.to_string(), end="")
    print()
    for line in summary_lines(program, feeds, fetches):
        print(line)
    return 0


def summary_lines(program: Program, feeds: list[str] | None, fetches: list[str] | None) -> list[str]:
    """The lines `minigraph summary` prints after the program text."""
    ops = [op for b in program.blocks for op in b.ops]
    roles = {"forward": 0, "backward": 0, "optimizer": 0}
    for op in ops:
        if op.role & OpRole.OPTIMIZE:
            roles["optimizer"] += 1
        elif op.role & OpRole.BACKWARD:
            roles["backward"] += 1
        else:
            roles["forward"] += 1
    variables = program.list_vars()
    by_role = ", ".join(f"{k} {n}" for k, n in roles.items() if n)
    lines = [f"blocks: {program.num_blocks}", f"ops: {len(ops)}" + (f" ({by_role})" if by_role else "")]
    lines.append(f"variables: {len(variables)}")
    params = [v for v in variables if isinstance(v, Parameter) and v.persistable]
    weights = _unflagged_weights(program, variables)
    total = sum(_size(v) for v in params + weights)
    trainable = sum(_size(p) for p in params if p.trainable)
    detail = [f"{trainable} trainable"] if params else []
    if weights:
        detail.append(
            f"{sum(_size(v) for v in weights)} in {len(weights)} persistable weight(s) without Parameter flags, "
            "such as folded batch_norm"
        )
    lines.append(
        f"parameters: {total} in {len(params) + len(weights)} tensor(s)" + (f" ({'; '.join(detail)})" if detail else "")
    )
    if feeds is not None:
        lines.append("feed targets: " + (", ".join(_typed(program, n) for n in feeds) or "(none)"))
    if fetches is not None:
        lines.append("fetch targets: " + (", ".join(_typed(program, n) for n in fetches) or "(none)"))
    return lines


def _unflagged_weights(program: Program, variables: list[Variable]) -> list[Variable]:
    """Persistable variables that a forward op reads but that are not Parameters: the
    model's weights all the same. An inference model saved with batch_norm folded holds its
    conv weights this way (`<Y>.fold_w`, `<Y>.fold_b`); optimizer state (accumulators,
    learning rates) is read only by optimizer ops and is not counted."""
    read = {
        n
        for b in program.blocks
        for op in b.ops
        if not op.role & (OpRole.BACKWARD | OpRole.OPTIMIZE)
        for n in op.input_arg_names
    }
    return [
        v
        for v in variables
        if v.persistable
        and not isinstance(v, Parameter)
        and not v.is_data
        and v.name in read
        and v.name not in ("feed", "fetch")
    ]


def _size(v: Variable) -> int:
    n = 1
    for d in v.shape:
        n *= max(int(d), 0)
    return n


def _typed(program: Program, name: str) -> str:
    v = program.global_block()._find_var_recursive(name)
    return f"{name} : {v.dtype}{shape_text(v.shape)}" if v is not None else name


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    print(f"minigraph: warning: {_one_line(message)}", file=sys.stderr)


# --- entry point ----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the `minigraph` command with `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = _parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help and --version print and exit 0
            return int(e.code or 0)
        if args.command is None:
            raise CliError("choose a command: viz, summary or export (see --help)", 2)
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            if args.command == "export":
                return onnx_command.run(args)
            return _cmd_viz(args) if args.command == "viz" else _cmd_summary(args)
    except CliError as e:
        print(f"minigraph: error: {_one_line(e)}", file=sys.stderr)
        return e.code
    except VizError as e:  # a bad --highlight regex and the like
        print(f"minigraph: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `minigraph summary m.json | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (MinigraphError, OSError) as e:
        print(f"minigraph: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
