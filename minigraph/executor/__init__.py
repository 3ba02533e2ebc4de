"""Execution: Scope, compiled Plans and the Executor."""

from minigraph.executor.executor import CPUPlace, Executor
from minigraph.executor.scope import Scope, global_scope, scope_guard

__all__ = ["CPUPlace", "Executor", "Scope", "global_scope", "scope_guard"]
