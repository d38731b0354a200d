"""``scripts/check_changed.py`` (``make check``) picks the tests of what changed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_changed", ROOT / "scripts" / "check_changed.py")
assert _spec is not None and _spec.loader is not None
check_changed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_changed)


def _tests(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return [tmp_path / name for name in files]


def test_a_changed_module_selects_its_test_file_its_importers_and_its_doctests(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(check_changed, "ROOT", tmp_path)
    files = _tests(
        tmp_path,
        {
            "tests/test_metrics.py": "import numpy\n",  # by its name
            "tests/test_uses.py": "from mvdlib.metrics.depth import abs_rel\n",
            "tests/test_from.py": "from mvdlib.metrics import depth, other\n",
            "tests/test_paren.py": "from mvdlib.metrics import (\n    other,\n    depth,\n)\n",
            "tests/test_prefix.py": "from mvdlib.metrics.depth_extra import x\nfrom mvdlib.metrics import depths\n",
            "tests/test_other.py": "import mvdlib.geometry\n",
        },
    )
    tests, doctests = check_changed.tests_for(["mvdlib/metrics/depth.py"], files)
    assert tests == ["tests/test_from.py", "tests/test_paren.py", "tests/test_uses.py"]
    assert doctests == ["mvdlib/metrics/depth.py"]
    tests, _ = check_changed.tests_for(["mvdlib/metrics/__init__.py"], files)
    assert "tests/test_other.py" not in tests and "tests/test_uses.py" in tests
    tests, _ = check_changed.tests_for(["mvdlib/metrics.py"], files)  # a module named like the test file
    assert "tests/test_metrics.py" in tests


def test_changed_tests_and_helpers_select_themselves_and_their_users(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(check_changed, "ROOT", tmp_path)
    files = _tests(
        tmp_path,
        {
            "tests/test_a.py": "from tiny_training import run\n",
            "tests/test_b.py": "import tiny_trainingx\n",
            "tests/test_c.py": 'ROOT / "benchmarks" / "gpu_check.py"\n',
        },
    )
    tests, doctests = check_changed.tests_for(["tests/test_b.py", "tests/tiny_training.py", "README.md"], files)
    assert tests == ["tests/test_a.py", "tests/test_b.py"] and doctests == []
    assert check_changed.tests_for(["benchmarks/gpu_check.py"], files) == (["tests/test_c.py"], [])


def test_module_names() -> None:
    assert check_changed.module_name("mvdlib/data/render.py") == "mvdlib.data.render"
    assert check_changed.module_name("mvdlib/data/__init__.py") == "mvdlib.data"


def test_the_slow_files_run_first_and_exist() -> None:
    """conftest.SLOW_FILES names files that exist (a renamed one would silently lose its place)."""
    from conftest import SLOW_FILES

    assert SLOW_FILES and all((ROOT / name).is_file() for name in SLOW_FILES)
    assert " ".join(check_changed.UNIT_DIST) == "--dist loadfile --no-loadscope-reorder"  # make check as make unit
    assert " ".join(check_changed.UNIT_DIST) in (ROOT / "Makefile").read_text()
