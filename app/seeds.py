"""`--num_seeds K`: K runs that differ only in seed, and their summary.

Single fine-tuning runs on small tasks are noise (MRPC swings by points from
seed to seed); the mean, standard deviation and median over seeds are not.
"""

import dataclasses
import json
import logging
import os

import numpy as np

from app.config import RunConfig
from app.results import write_text_atomically

logger = logging.getLogger(__name__)
SUMMARY_NAME = "seed_summary"


def seed_configs(config: RunConfig) -> list[RunConfig]:
    """One config per seed, each writing to `output_dir/seed_<seed>`.

    The seeds share one feature cache (`output_dir/feature_cache` unless
    --feature_cache_dir says where): a streamed split is tokenized once.
    """
    return [
        dataclasses.replace(
            config,
            seed=seed,
            num_seeds=1,
            output_dir=os.path.join(config.output_dir, f"seed_{seed}"),
            export_dir=None,
            feature_cache_dir=config.feature_cache_path,
        )
        for seed in range(config.seed, config.seed + config.num_seeds)
    ]


def summarize(results: list[dict]) -> dict:
    """Mean, standard deviation, median, min and max of each numeric metric."""
    keys = sorted({k for result in results for k, v in result.items() if _is_number(v)})
    summary = {}
    for key in keys:
        values = np.array([r[key] for r in results if _is_number(r.get(key))], float)
        summary[key] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "median": float(np.median(values)),
            "min": float(values.min()),
            "max": float(values.max()),
            "runs": len(values),
        }
    return summary


def format_summary(summary: dict, seeds: list[int]) -> str:
    lines = [f"seeds = {' '.join(str(s) for s in seeds)}"]
    for key, stats in summary.items():
        lines.append(
            f"{key} = {stats['mean']:.6g} +- {stats['std']:.3g} "
            f"(median {stats['median']:.6g}, min {stats['min']:.6g}, "
            f"max {stats['max']:.6g})"
        )
    return "\n".join(lines) + "\n"


def write_summary(output_dir: str, results: list[dict], seeds: list[int]) -> str:
    summary = summarize(results)
    base = os.path.join(output_dir, SUMMARY_NAME)
    document = {"seeds": seeds, "metrics": summary, "runs": results}
    write_text_atomically(base + ".json", json.dumps(document, indent=2) + "\n")
    write_text_atomically(base + ".txt", format_summary(summary, seeds))
    logger.info(
        "***** Over %d seeds *****\n%s", len(seeds), format_summary(summary, seeds)
    )
    return base + ".txt"


def read_eval_json(output_dir: str) -> dict:
    with open(os.path.join(output_dir, "eval_results.json"), encoding="utf-8") as file:
        return json.load(file)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
