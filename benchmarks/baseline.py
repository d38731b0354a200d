"""The code a speed-up replaced, loaded from git, so a benchmark times old and new in one run.

``baseline_module("mvdlib/data/synthetic.py")`` imports that file as it was at
:data:`BASELINE_COMMIT` (the project's main branch before the speed work of issue 16) under a
private module name; it imports the rest of ``mvdlib`` from the working tree. Only the
benchmarks use it: nothing in ``mvdlib`` or the tests depends on an old revision.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
# main before issue 16 ("Speed where a reader or a training run waits")
BASELINE_COMMIT = "4b70f75"


def baseline_module(path: str, commit: str = BASELINE_COMMIT) -> ModuleType:
    """Import ``path`` (relative to the repository root) as it was at ``commit``."""
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    name = "baseline_" + Path(path).stem
    folder = Path(tempfile.mkdtemp(prefix="mvdlib_baseline_"))
    file = folder / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module
