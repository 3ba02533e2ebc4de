"""Execution: Scope, compiled Plans and the Executor."""

from minigraph.executor.compiled import CompiledProgram
from minigraph.executor.executor import CPUPlace, Executor
from minigraph.executor.scope import Scope, global_scope, scope_guard

__all__ = ["CPUPlace", "CompiledProgram", "Executor", "Scope", "global_scope", "scope_guard"]
