"""The committed artefacts (checkpoints, the ten-view capture, chapter times) as package data.

They live in the repository's top-level ``data/`` folder, which ``pyproject.toml`` maps into
the package as ``mvdlib._data`` (setuptools ``package-dir``), so that a wheel built from the
repository carries them and a chapter run in Colab or a fresh Jupyter finds them with no
dependence on the working directory. Read them with :func:`data_path`.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__all__ = ["DATA_PACKAGE", "data_dir", "data_path"]

DATA_PACKAGE = "mvdlib._data"


def data_dir() -> Path:
    """The folder of the committed artefacts.

    A source checkout imported from ``sys.path`` (``PYTHONPATH``, a notebook started in the
    repository) has no ``mvdlib/_data`` folder: its ``data/`` beside ``mvdlib/`` is used, so a
    checkout never reads another checkout's files. Otherwise (a wheel, an editable install)
    the folder comes from ``importlib.resources``.
    """
    package = Path(__file__).resolve().parent
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "data" / "__init__.py").is_file():
        return checkout / "data"
    folder = importlib.resources.files(DATA_PACKAGE)
    if not isinstance(folder, Path):  # a zipped install: the artefacts must be real files for torch/numpy
        raise RuntimeError(f"{DATA_PACKAGE} must be installed as a folder, got {folder!r}")
    return folder


def data_path(name: str) -> Path:
    """The path of one committed artefact, e.g. ``data_path("mvdepthnet_cpu.pt")``.

    Args:
        name: a file name in ``data/`` (no folders).
    Returns:
        Its path; the file may not exist yet (a command that writes it takes the path too).
    """
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(f"name must be a plain file name in data/, got {name!r}")
    return data_dir() / name
