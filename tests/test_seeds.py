"""Summaries over seeds, worked out by hand."""

import dataclasses
import json

import pytest

from app.config import RunConfig
from app.seeds import seed_configs, summarize, write_summary


def test_each_seed_gets_its_own_folder():
    config = RunConfig(
        task_name="mrpc", data_dir="d", output_dir="out", seed=7, num_seeds=3
    )
    configs = seed_configs(config)
    assert [c.seed for c in configs] == [7, 8, 9]
    assert [c.output_dir for c in configs] == ["out/seed_7", "out/seed_8", "out/seed_9"]
    assert all(c.num_seeds == 1 for c in configs)
    # One feature cache for every seed: a streamed split is tokenized once.
    assert {c.feature_cache_path for c in configs} == {"out/feature_cache"}
    original = dataclasses.replace(
        configs[0], seed=7, output_dir="out", num_seeds=3, feature_cache_dir=None
    )
    assert original == config
    shared = dataclasses.replace(config, feature_cache_dir="/caches")
    assert {c.feature_cache_path for c in seed_configs(shared)} == {"/caches"}


def test_summary_is_mean_std_and_median():
    results = [
        {"eval_accuracy": 0.8, "global_step": 10, "confusion_matrix": [[1]]},
        {"eval_accuracy": 0.9, "global_step": 10},
        {"eval_accuracy": 0.7, "global_step": 10},
    ]
    summary = summarize(results)
    assert set(summary) == {"eval_accuracy", "global_step"}
    accuracy = summary["eval_accuracy"]
    assert accuracy["mean"] == pytest.approx(0.8)
    assert accuracy["std"] == pytest.approx(0.1)  # sample standard deviation
    assert accuracy["median"] == pytest.approx(0.8)
    assert (accuracy["min"], accuracy["max"], accuracy["runs"]) == (0.7, 0.9, 3)


def test_summary_files(tmp_path):
    path = write_summary(str(tmp_path), [{"f1": 0.5}, {"f1": 1.0}], [1, 2])
    assert open(path).read().startswith("seeds = 1 2\nf1 = 0.75 +- 0.354")
    document = json.loads((tmp_path / "seed_summary.json").read_text())
    assert document["metrics"]["f1"]["median"] == 0.75
