"""Restoring a run's own checkpoint when the pretrained weights were not read."""

import keras
import numpy as np
import pytest

from app import training
from app.errors import ConfigError


def compiled_model(widths):
    model = keras.Sequential(
        [keras.Input((3,))] + [keras.layers.Dense(w) for w in widths]
    )
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_a_checkpoint_lacking_a_variable_is_refused_only_when_it_must_be_whole(
    tmp_path,
):
    saved = compiled_model([2])
    training.build_checkpoint_manager(saved, str(tmp_path)).save()
    bigger = compiled_model([2, 4])
    manager = training.build_checkpoint_manager(bigger, str(tmp_path))
    with pytest.raises(ConfigError, match="lacks variables of this model"):
        training.restore_latest(manager, complete=True)
    assert training.restore_latest(manager) == 0  # partial: as before


def test_a_whole_checkpoint_restores_every_weight(tmp_path):
    saved = compiled_model([2])
    training.build_checkpoint_manager(saved, str(tmp_path)).save()
    fresh = compiled_model([2])
    manager = training.build_checkpoint_manager(fresh, str(tmp_path))
    training.restore_latest(manager, complete=True)
    for restored, original in zip(fresh.weights, saved.weights):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())
