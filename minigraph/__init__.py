"""minigraph: a small, fast, honest define-then-run deep-learning framework on numpy."""

from minigraph import (
    clip,
    core,
    distributed,
    dygraph,
    initializer,
    io,
    jit,
    layers,
    nets,
    nn,
    onnx,
    ops,  # noqa: F401  (registers every op type)
    optimizer,
    reader,
    regularizer,
    unique_name,
    viz,
)
from minigraph.backward import append_backward, gradients
from minigraph.core import CUDAPlace, cpu_places
from minigraph.data_feeder import DataFeeder
from minigraph.errors import (
    ExecutionError,
    FeedError,
    FetchError,
    GraphBuildError,
    MinigraphError,
    ModelFormatError,
    NonFiniteError,
    UninitializedVariableError,
)
from minigraph.executor import CompiledProgram, CPUPlace, Executor, Scope, global_scope, scope_guard
from minigraph.ir import (
    Block,
    Operator,
    OpRole,
    Parameter,
    Program,
    Variable,
    default_main_program,
    default_startup_program,
    name_scope,
    program_guard,
)
from minigraph.layers.indexing import embedding_v2 as embedding
from minigraph.layers.tensor import create_global_var, create_parameter
from minigraph.layers.tensor import static_data as data
from minigraph.ops.backend import name as kernels
from minigraph.param_attr import ParamAttr
from minigraph.passes.strategy import BuildStrategy
from minigraph.reader import batch

__version__ = "0.1.0"

__all__ = [
    "kernels",
    "Block",
    "BuildStrategy",
    "CPUPlace",
    "CUDAPlace",
    "CompiledProgram",
    "DataFeeder",
    "ExecutionError",
    "Executor",
    "FeedError",
    "FetchError",
    "GraphBuildError",
    "MinigraphError",
    "ModelFormatError",
    "NonFiniteError",
    "OpRole",
    "Operator",
    "ParamAttr",
    "Parameter",
    "Program",
    "Scope",
    "UninitializedVariableError",
    "Variable",
    "append_backward",
    "batch",
    "clip",
    "core",
    "cpu_places",
    "create_global_var",
    "create_parameter",
    "data",
    "default_main_program",
    "default_startup_program",
    "global_scope",
    "gradients",
    "distributed",
    "dygraph",
    "embedding",
    "io",
    "jit",
    "onnx",
    "viz",
    "initializer",
    "layers",
    "name_scope",
    "nets",
    "optimizer",
    "program_guard",
    "reader",
    "regularizer",
    "scope_guard",
    "unique_name",
]
