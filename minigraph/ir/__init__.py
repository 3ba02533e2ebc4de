"""The IR: Program, Block, Variable, Parameter, Operator, naming and text form."""

from minigraph.ir.block import Block
from minigraph.ir.framework import default_main_program, default_startup_program, program_guard
from minigraph.ir.naming import name_scope
from minigraph.ir.operator import Operator, OpRole
from minigraph.ir.program import Program
from minigraph.ir.variable import Parameter, Variable

__all__ = [
    "Block",
    "Operator",
    "OpRole",
    "Parameter",
    "Program",
    "Variable",
    "default_main_program",
    "default_startup_program",
    "name_scope",
    "program_guard",
]
