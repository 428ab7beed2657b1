"""Strategy and precision choices, and the reasons logged for them."""

import dataclasses
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from app import strategy as strategy_module
from app.config import RunConfig, validate
from app.errors import ConfigError
from app.strategy import (
    BFLOAT16_MIN_MATMUL_SPEEDUP,
    bfloat16_matmul_speedup,
    count_tf_config_workers,
    cpu_has_bfloat16,
    is_chief,
    resolve_inference_precision,
    resolve_pad_to_multiple_of,
    resolve_precision,
    resolve_strategy_name,
)


def test_auto_picks_by_what_the_machine_has(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert resolve_strategy_name("auto", wants_tpu=True)[0] == "tpu"
    assert resolve_strategy_name("auto", False) == ("default", "no GPU or TPU visible")
    assert resolve_strategy_name("mirrored", False) == (
        "mirrored",
        "--strategy=mirrored",
    )
    cluster = {"worker": ["a:1", "b:2"], "chief": ["c:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster}))
    assert count_tf_config_workers() == 3
    assert resolve_strategy_name("auto", False) == (
        "multi_worker",
        "TF_CONFIG names 3 workers",
    )


def test_the_default_strategy_is_its_own_chief():
    assert is_chief(tf.distribute.get_strategy())


def test_bfloat16_is_read_from_the_cpu_flags(tmp_path):
    with_bf16 = tmp_path / "with"
    with_bf16.write_text("processor : 0\nflags : fpu avx512f avx512_bf16 sse\n")
    without = tmp_path / "without"
    without.write_text("processor : 0\nflags : fpu avx2 sse\n")
    assert cpu_has_bfloat16(str(with_bf16))
    assert not cpu_has_bfloat16(str(without))
    assert not cpu_has_bfloat16(str(tmp_path / "missing"))


def test_explicit_precision_is_kept(monkeypatch):
    strategy = tf.distribute.get_strategy()
    monkeypatch.setattr(strategy_module, "cpu_has_bfloat16", lambda: True)
    assert resolve_precision("float32", strategy) == "float32"
    assert resolve_precision("mixed_float16", strategy) == "mixed_float16"


def test_auto_precision_keeps_cpus_in_float32_and_says_why(monkeypatch, caplog):
    strategy = tf.distribute.get_strategy()
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    caplog.set_level(logging.INFO)
    # bfloat16 trains faster on some such CPUs but cost dev accuracy on the demo.
    monkeypatch.setattr(strategy_module, "cpu_has_bfloat16", lambda: True)
    assert resolve_precision("auto", strategy) == "float32"
    assert "--precision=mixed_bfloat16 is opt-in" in caplog.text
    monkeypatch.setattr(strategy_module, "cpu_has_bfloat16", lambda: False)
    assert resolve_precision("auto", strategy) == "float32"
    assert "CPU without native bfloat16" in caplog.text


def pretend_bfloat16_cpu(monkeypatch, speedup: float | None) -> list:
    """A CPU with bfloat16 instructions (None: without) whose bfloat16 matrix
    products run `speedup` times as fast; returns the list of timings asked."""
    asked = []
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(
        strategy_module, "cpu_has_bfloat16", lambda: speedup is not None
    )

    def measured():
        asked.append(speedup)
        return speedup

    monkeypatch.setattr(strategy_module, "this_cpus_bfloat16_speedup", measured)
    return asked


def test_inference_precision_is_bfloat16_after_float32_training_where_it_pays(
    monkeypatch, caplog
):
    caplog.set_level(logging.INFO)
    pretend_bfloat16_cpu(monkeypatch, speedup=1.9)
    assert resolve_inference_precision("auto", "float32") == "mixed_bfloat16"
    assert "Evaluation and prediction: mixed_bfloat16" in caplog.text
    assert "multiplied bfloat16 matrices 1.90x as fast as float32" in caplog.text
    # Asked for explicitly, or trained in another precision: that one.
    assert resolve_inference_precision("float32", "float32") == "float32"
    assert resolve_inference_precision("auto", "mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu"])
    assert resolve_inference_precision("auto", "float32") == "float32"


def test_bfloat16_instructions_that_multiply_slower_keep_inference_in_float32(
    monkeypatch, caplog
):
    # As on a 2-core Intel Xeon with AVX512_BF16 and no AMX.
    caplog.set_level(logging.INFO)
    asked = pretend_bfloat16_cpu(monkeypatch, speedup=0.58)
    assert resolve_inference_precision("auto", "float32") == "float32"
    assert "only 0.58x as fast as float32" in caplog.text
    assert asked == [0.58]
    # Just under the threshold is not enough either.
    pretend_bfloat16_cpu(monkeypatch, speedup=BFLOAT16_MIN_MATMUL_SPEEDUP - 0.01)
    assert resolve_inference_precision("auto", "float32") == "float32"


def test_cpus_without_bfloat16_instructions_are_not_timed(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    asked = pretend_bfloat16_cpu(monkeypatch, speedup=None)
    assert resolve_inference_precision("auto", "float32") == "float32"
    assert asked == [] and "Evaluation and prediction" not in caplog.text


def test_the_speedup_is_measured_once_per_process(monkeypatch):
    # So every seed of a --num_seeds run evaluates in the same precision.
    timings = []
    monkeypatch.setattr(
        strategy_module, "bfloat16_matmul_speedup", lambda: timings.append(1) or 2.0
    )
    strategy_module.this_cpus_bfloat16_speedup.cache_clear()
    try:
        assert strategy_module.this_cpus_bfloat16_speedup() == 2.0
        assert strategy_module.this_cpus_bfloat16_speedup() == 2.0
    finally:
        strategy_module.this_cpus_bfloat16_speedup.cache_clear()
    assert timings == [1]


def test_bfloat16_matmul_speedup_times_this_cpu():
    speedup = bfloat16_matmul_speedup(rows=64, depth=64, columns=64, repeats=2)
    assert np.isfinite(speedup) and speedup > 0


def test_padding_multiple_is_chosen_per_device(monkeypatch):
    # This machine: a CPU and no XLA, where every padded token costs.
    assert resolve_pad_to_multiple_of(0, pads_statically=False, jit_compile=False) == 1
    assert resolve_pad_to_multiple_of(0, False, jit_compile=True) == 8
    assert resolve_pad_to_multiple_of(16, False, jit_compile=False) == 16
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu:0"])
    assert resolve_pad_to_multiple_of(0, False, jit_compile=False) == 8


def training_config(tmp_path, **fields) -> RunConfig:
    """An MRPC training run's config with `fields` set."""
    return RunConfig(
        task_name="mrpc",
        do_train=True,
        data_dir=str(tmp_path),
        output_dir=str(tmp_path / "out"),
        init_checkpoint=str(tmp_path),
        **fields,
    )


def test_padding_multiple_out_of_range_is_refused(tmp_path):
    config = training_config(tmp_path, max_seq_length=64)
    assert validate(dataclasses.replace(config, pad_to_multiple_of=64))
    for value in (-1, 65):
        with pytest.raises(ConfigError, match=f"pad_to_multiple_of={value}, max_seq"):
            validate(dataclasses.replace(config, pad_to_multiple_of=value))


def test_onednn_is_on_before_tensorflow_loads_unless_set():
    show = "import os, app; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    for given, expected in ((None, "1"), ("0", "0")):
        environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
        if given is not None:
            environment["TF_ENABLE_ONEDNN_OPTS"] = given
        shown = subprocess.run(
            [sys.executable, "-c", show],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout.strip() == expected


def test_gradient_accumulation_is_refused_on_several_replicas(tmp_path):
    from app.runner import check_accumulation_replicas

    class TwoReplicas:
        num_replicas_in_sync = 2

    accumulating = training_config(tmp_path, gradient_accumulation_steps=4)
    with pytest.raises(ConfigError, match="--gradient_accumulation_steps=4 works on"):
        check_accumulation_replicas(accumulating, TwoReplicas())
    # One replica accumulates; several replicas without accumulation train.
    check_accumulation_replicas(accumulating, tf.distribute.get_strategy())
    single = dataclasses.replace(accumulating, gradient_accumulation_steps=1)
    check_accumulation_replicas(single, TwoReplicas())
    evaluating = dataclasses.replace(accumulating, do_train=False)
    check_accumulation_replicas(evaluating, TwoReplicas())
