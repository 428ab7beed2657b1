"""Strategy and precision choices, and the reasons logged for them."""

import dataclasses
import importlib
import json
import logging
import os

import pytest
import tensorflow as tf

import app
from app import strategy as strategy_module
from app.config import RunConfig, validate
from app.errors import ConfigError
from app.strategy import (
    CpuInfo,
    count_tf_config_workers,
    is_chief,
    read_cpu_info,
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


AMD_AVX512_BF16 = "vendor_id : AuthenticAMD\nflags : fpu avx2 avx512f avx512_bf16\n"
INTEL_AVX512_BF16 = "vendor_id : GenuineIntel\nflags : fpu avx2 avx512f avx512_bf16\n"
INTEL_AMX = (
    "vendor_id : GenuineIntel\nflags : fpu avx512f avx512_bf16 amx_bf16 amx_tile\n"
)
AMD_AVX2 = "vendor_id : AuthenticAMD\nflags : fpu avx avx2\n"
ARM_BF16 = "processor : 0\nFeatures : fp asimd bf16 i8mm\n"


def write_cpuinfo(tmp_path, text: str) -> str:
    """A fake /proc/cpuinfo of two CPUs with `text` each; returns its path."""
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor : 0\n{text}\nprocessor : 1\n{text}")
    return str(path)


def test_cpu_vendor_and_flags_are_read_from_cpuinfo(tmp_path):
    cpu = read_cpu_info(write_cpuinfo(tmp_path, INTEL_AMX))
    assert cpu == CpuInfo(
        "GenuineIntel",
        frozenset({"fpu", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}),
    )
    assert read_cpu_info(write_cpuinfo(tmp_path, ARM_BF16)).flags >= {"bf16"}
    assert read_cpu_info(str(tmp_path / "missing")) == CpuInfo()


def test_explicit_precision_is_kept(monkeypatch, tmp_path):
    strategy = tf.distribute.get_strategy()
    cpuinfo = write_cpuinfo(tmp_path, INTEL_AMX)
    monkeypatch.setattr(strategy_module, "CPUINFO_PATH", cpuinfo)
    assert resolve_precision("float32", strategy) == "float32"
    assert resolve_precision("mixed_float16", strategy) == "mixed_float16"


@pytest.mark.parametrize(
    "cpuinfo, expected, reason",
    [
        (INTEL_AMX, "mixed_bfloat16", "CPU with AMX bfloat16 tiles"),
        (AMD_AVX512_BF16, "float32", "--precision=mixed_bfloat16 is opt-in"),
        (INTEL_AVX512_BF16, "float32", "--precision=mixed_bfloat16 is opt-in"),
        (AMD_AVX2, "float32", "CPU without AVX512_BF16 or AMX"),
        (ARM_BF16, "float32", "CPU without AVX512_BF16 or AMX"),
    ],
)
def test_auto_precision_trains_in_bfloat16_on_amx_cpus_only_and_says_why(
    monkeypatch, caplog, tmp_path, cpuinfo, expected, reason
):
    strategy = tf.distribute.get_strategy()
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(
        strategy_module, "CPUINFO_PATH", write_cpuinfo(tmp_path, cpuinfo)
    )
    caplog.set_level(logging.INFO)
    assert resolve_precision("auto", strategy) == expected
    assert reason in caplog.text


@pytest.mark.parametrize(
    "cpuinfo, expected",
    [
        (INTEL_AMX, "mixed_bfloat16"),
        (AMD_AVX512_BF16, "mixed_bfloat16"),
        (INTEL_AVX512_BF16, "float32"),
        (AMD_AVX2, "float32"),
        (ARM_BF16, "float32"),
        ("flags : avx512_bf16\n", "float32"),  # no vendor_id: not known to pay
    ],
)
def test_inference_precision_is_decided_from_vendor_and_flags(
    tmp_path, monkeypatch, caplog, cpuinfo, expected
):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    caplog.set_level(logging.INFO)
    path = write_cpuinfo(tmp_path, cpuinfo)
    assert resolve_inference_precision("auto", "float32", path) == expected
    # Same command, same kind of machine: the same choice, nothing timed.
    assert resolve_inference_precision("auto", "float32", path) == expected
    assert caplog.text.count(f"Evaluation and prediction: {expected} (") == 2


def test_inference_precision_logs_the_reason(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    caplog.set_level(logging.INFO)
    resolve_inference_precision("auto", "float32", write_cpuinfo(tmp_path, INTEL_AMX))
    assert "(--precision=auto: the CPU has AMX bfloat16 tiles;" in caplog.text
    intel = write_cpuinfo(tmp_path, INTEL_AVX512_BF16)
    resolve_inference_precision("auto", "float32", intel)
    assert "AVX512_BF16 without AMX (GenuineIntel)" in caplog.text


def test_inference_precision_reads_the_default_cpuinfo_path(tmp_path, monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    path = write_cpuinfo(tmp_path, AMD_AVX512_BF16)
    monkeypatch.setattr(strategy_module, "CPUINFO_PATH", path)
    assert resolve_inference_precision("auto", "float32") == "mixed_bfloat16"


def test_inference_precision_follows_flags_gpus_and_training(tmp_path, monkeypatch):
    amx = write_cpuinfo(tmp_path, INTEL_AMX)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    # Asked for explicitly, or trained in another precision: that one.
    assert resolve_inference_precision("float32", "float32", amx) == "float32"
    assert resolve_inference_precision("auto", "mixed_float16", amx) == "mixed_float16"
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu"])
    assert resolve_inference_precision("auto", "float32", amx) == "float32"


def test_no_timing_is_left_in_the_run_path():
    assert not hasattr(strategy_module, "bfloat16_matmul_speedup")
    assert not hasattr(strategy_module, "this_cpus_bfloat16_speedup")


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


def test_importing_app_leaves_the_environment_alone():
    # main() sets TensorFlow's environment; importing the package does not.
    before = dict(os.environ)
    importlib.reload(app)
    assert dict(os.environ) == before
