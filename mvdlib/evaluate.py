"""The evaluation command's old home: ``python -m mvdlib.evaluate`` (chapter 11).

The code lives in :mod:`mvdlib.training.evaluate`; the names below stay importable from here
for the readers' notebooks.
"""

from __future__ import annotations

from typing import Any

from mvdlib.training import evaluate as _cli
from mvdlib.training.evaluate import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    IMAGE_ONLY,
    MIN_INVERSE_DEPTH,
    MVDEPTHNET,
    WTA,
    compare_real_pair,
    evaluate_checkpoint_dict,
    evaluate_model,
    evaluate_real_pair,
    format_table,
    predict_batch,
)

__all__ = ["main"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m mvdlib.evaluate``: :func:`mvdlib.training.evaluate.main`, recording this command."""
    return _cli.main(argv, prog="python -m mvdlib.evaluate")


if __name__ == "__main__":
    main()
