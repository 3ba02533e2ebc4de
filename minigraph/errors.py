"""Exception types. Every error minigraph raises on purpose derives from MinigraphError,
and also from the builtin type a Python user would expect (ValueError, TypeError, ...),
so `except ValueError` keeps working for people porting Paddle scripts."""


class MinigraphError(Exception):
    """Base of every error minigraph raises on purpose."""


class InvalidArgumentError(MinigraphError, ValueError):
    """A public function got an argument with a bad value; the message names the argument
    and the function."""


class ArgumentTypeError(MinigraphError, TypeError):
    """A public function got an argument of the wrong type; the message names the argument
    and the function."""


class GraphBuildError(MinigraphError, ValueError):
    """A program was built wrongly: bad shapes, attrs or wiring, caught at append time."""


class OpTypeError(MinigraphError, TypeError):
    """An op got an input of the wrong dtype, or an attr of the wrong type."""


class ReadOnlyError(MinigraphError, TypeError):
    """A program's records were changed in place instead of through the Block/Operator
    methods that keep the program's version (and so every executor's plan cache) honest."""


class FeedError(MinigraphError, ValueError):
    """A feed is missing, unknown, or has the wrong rank, dimension or dtype."""


class FetchError(MinigraphError, KeyError):
    """A fetch target is not a variable of the program being run."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class ExecutionError(MinigraphError, RuntimeError):
    """An op failed while running; the message carries the op's text line."""


class NonFiniteError(ExecutionError):
    """check_nan_inf found a NaN or Inf in an op's output."""


class UninitializedVariableError(ExecutionError):
    """A persistable variable was read before anything gave it a value."""


class ModelFormatError(MinigraphError, ValueError):
    """A saved program or tensor file is malformed."""


class ExportError(MinigraphError, ValueError):
    """A program cannot be exported (to ONNX): an unsupported op, a training program, a
    parameter without a value. Nothing is written when it is raised."""
