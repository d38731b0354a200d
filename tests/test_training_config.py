"""Tests of mvdlib.training.config: every setting is checked at construction, presets and saved
configurations round-trip, and a resume may change only the resumable settings."""

from __future__ import annotations

import dataclasses

import pytest

from mvdlib.training.config import PRESETS, RESUMABLE_CHANGES, TrainConfig, _resumed_config, config_from_dict


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("batch_size", 0),
        ("batch_size", True),
        ("steps", -1),
        ("steps", 2.5),
        ("num_workers", -1),
        ("height", 33),
        ("seed", -1),
        ("seed", 2**32),
        ("seed", True),
        ("lr", float("nan")),
        ("model_width", 0.0),
        ("smoothness_weight", -1.0),
        ("lr_milestones", (0,)),
        ("lr_milestones", 5),
        ("flip", "yes"),
        ("autocast_bf16", 1),
        ("out", ""),
        ("cache_dir", 3),
    ],
)
def test_a_bad_setting_is_refused_at_construction_naming_it(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_every_preset_is_a_valid_config():
    for name, preset in PRESETS.items():
        cfg = TrainConfig(**preset)
        assert all(getattr(cfg, k) == v for k, v in preset.items()), name


def test_config_from_dict_round_trips_a_saved_config():
    cfg = TrainConfig(**PRESETS["gpu"])
    saved = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}  # as JSON has it
    assert config_from_dict(saved) == cfg
    with pytest.raises(ValueError, match="unknown"):
        config_from_dict({"colour": 1})
    with pytest.raises(TypeError, match="dict"):
        config_from_dict([("steps", 3)])


def test_a_resume_may_change_only_the_resumable_settings():
    saved = dataclasses.asdict(TrainConfig(steps=10))
    for name, value in (("steps", 20), ("num_workers", 2), ("out", "elsewhere.pt")):
        assert name in RESUMABLE_CHANGES
        _resumed_config(dataclasses.replace(TrainConfig(steps=10), **{name: value}), saved)
    with pytest.raises(ValueError, match="lr"):
        _resumed_config(TrainConfig(steps=10, lr=0.5), saved)


# ---- upper bounds (issue 22, round 3) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("train_scenes", 10**8, "1000000"),  # SCENES_PER_SPLIT: more would reuse the val split's scenes
        ("val_scenes", 10**6 + 1, "1000000"),
        ("test_scenes", 10**7, "1000000"),
        ("num_sources", 10**5, "200"),  # CAMERA_ATTEMPTS: sample_trajectory places at most that many
    ],
)
def test_a_count_beyond_what_the_data_provides_is_refused_saying_the_maximum(field, value, says):
    with pytest.raises(ValueError, match=rf"{field} must be .*{says}.*got {value}"):
        TrainConfig(**{field: value})


def test_the_largest_counts_the_data_provides_are_taken():
    from mvdlib.data.synthetic import SCENES_PER_SPLIT
    from mvdlib.data.trajectory import CAMERA_ATTEMPTS

    cfg = TrainConfig(train_scenes=SCENES_PER_SPLIT, test_scenes=SCENES_PER_SPLIT, num_sources=CAMERA_ATTEMPTS)
    assert (cfg.train_scenes, cfg.num_sources) == (SCENES_PER_SPLIT, CAMERA_ATTEMPTS)
