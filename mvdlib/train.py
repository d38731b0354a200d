"""The training command's old home: ``python -m mvdlib.train`` runs ``python -m mvdlib.training`` (chapter 11).

The code lives in :mod:`mvdlib.training`; the names below stay importable from here for the
readers' notebooks.
"""

from __future__ import annotations

from typing import Any

from mvdlib.data.augment import flip_horizontal, jitter_photometric  # noqa: F401  (moved; old path kept for readers' notebooks)
from mvdlib.data.sample import SAMPLE_KEYS, collate_samples  # noqa: F401  (moved; old path kept for readers' notebooks)
from mvdlib.models.mvdepthnet import read_checkpoint  # noqa: F401  (moved; old path kept for readers' notebooks)
from mvdlib.training import __main__ as _cli
from mvdlib.training.config import PRESETS, TrainConfig, config_from_dict  # noqa: F401  (moved; old path kept for readers' notebooks)
from mvdlib.training.export import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    export_checkpoint,
    half_precision,
    save_atomic,
    thin_history,
)
from mvdlib.training.loop import batch_loss, cost_volume_for_batch, train  # noqa: F401  (moved; old path kept for readers' notebooks)
from mvdlib.training.schedule import (  # noqa: F401  (moved; old path kept for readers' notebooks)
    TEST_SAMPLES_PER_SCENE,
    StepBatches,
    batch_indices,
    build_datasets,
    step_batches,
)

__all__ = ["main"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m mvdlib.train``: :func:`mvdlib.training.__main__.main`, recording this command."""
    return _cli.main(argv, prog="python -m mvdlib.train")


if __name__ == "__main__":
    main()
