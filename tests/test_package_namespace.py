"""Subpackages users reach as attributes of `minigraph`, as in `paddle.jit.to_static`:
checked in a fresh interpreter, since any earlier `import minigraph.jit` in the test
process would make the attribute exist anyway."""

import subprocess
import sys


def test_jit_reachable_without_importing_it():
    code = (
        "import sys\n"
        "import minigraph as mg\n"
        "assert callable(mg.jit.trace), mg.jit\n"
        "print(sys.modules['minigraph.jit'].__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "minigraph.jit"
