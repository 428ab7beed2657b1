"""The data report written before training: what the model will actually see.

For each split: examples per label (or score range), token lengths after
WordPiece, how many examples `max_seq_length` truncates, and the share of
`[UNK]` tokens, read from the split's packed rows (`pack_examples`), so the
counts are the run's own tokenizer's and nothing is tokenized for the report.
Written to `output_dir` as data_report.json and data_report.txt.
"""

import json
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from app.feature_cache import FeatureCache
from app.input_pipeline import PackedExamples
from tasks import InputExample, OutputKind

PERCENTILES = (50, 90, 95, 99)


def build_data_report(
    splits: Mapping[str, Sequence[InputExample]],
    packed: Mapping[str, PackedExamples],
    is_pair: bool,
    max_seq_length: int,
    task_name: str = "",
    output_kind: OutputKind = OutputKind.CLASSES,
    long_text: str = "truncate",
    cached: Mapping[str, FeatureCache] | None = None,
) -> dict:
    """The report as a JSON-ready dict.

    Args:
        splits: the examples of each split read, by split name.
        packed: the same splits packed by the run's preprocessor, by name.
        is_pair: whether examples have a second text (one more [SEP]).
        max_seq_length: the packed length; longer examples are truncated.
        task_name: the task, for the report's title.
        output_kind: what the labels are (scores: reported as min/mean/max;
            multi-label: examples per label, and labels per example).
        long_text: `--long_text`; other than truncate, each split also
            reports the tokens beyond `max_seq_length` and, for chunks, the
            windows per example (`_describe_long_text`).
        cached: streamed splits, by name: their counts come from their
            feature cache (`app.feature_cache`), with no examples in memory.
    """
    report = {"task": task_name, "max_seq_length": max_seq_length, "splits": {}}
    special_tokens = 3 if is_pair else 2  # [CLS] a [SEP] (b [SEP])
    for split, examples in splits.items():
        summary = {"examples": len(examples)}
        summary.update(_describe_labels(split, examples, output_kind))
        summary.update(
            _describe_tokens(
                packed[split].token_counts,
                packed[split].unknown_counts,
                packed[split].document_ids,
                special_tokens,
                max_seq_length,
                long_text,
            )
        )
        report["splits"][split] = summary
    for split, cache in (cached or {}).items():
        # A streamed split (csv task) has no groups; test has no labels.
        summary = {"examples": cache.num_examples}
        if cache.label_counts is not None:
            summary.update(_describe_label_counts(cache, output_kind))
        summary.update(
            _describe_tokens(
                cache.read_array("token_counts"),
                cache.read_array("unknown_counts"),
                cache.read_array("document_ids"),
                special_tokens,
                max_seq_length,
                long_text,
            )
        )
        report["splits"][split] = summary
    # In split order, whichever of them streamed.
    order = ("train", "dev", "test")
    report["splits"] = dict(
        sorted(report["splits"].items(), key=lambda item: order.index(item[0]))
    )
    return report


def _describe_tokens(
    token_counts: np.ndarray,
    unknown_counts: np.ndarray,
    document_ids: np.ndarray | None,
    special_tokens: int,
    max_seq_length: int,
    long_text: str,
) -> dict:
    """Lengths, truncation, [UNK]s and long-text figures of one split.

    `token_counts`: (num_examples,) WordPieces of both texts before
    truncation; `document_ids`: each window's example, or None.
    """
    lengths = token_counts + special_tokens
    unknown = int(unknown_counts.sum())
    summary = _describe_lengths(lengths, max_seq_length)
    summary["tokens"] = int(token_counts.sum())
    summary["unknown_tokens"] = unknown
    summary["unknown_rate"] = float(unknown / max(token_counts.sum(), 1))
    if long_text != "truncate":
        summary["long_text"] = _describe_long_text(
            long_text, lengths, max_seq_length, document_ids
        )
    return summary


def format_data_report(report: dict) -> str:
    """The report as a few readable lines per split."""
    lines = [
        f"Data report: task {report['task']}, max_seq_length {report['max_seq_length']}"
    ]
    for split, summary in report["splits"].items():
        count = summary["examples"]
        lines.append(f"{split}: {count} examples")
        for key in ("labels", "groups"):
            if key in summary:
                lines.append(f"  {key}: " + _format_counts(summary[key], count))
        if "labels_per_example" in summary:
            lines.append(f"  labels per example: {summary['labels_per_example']:.2f}")
        if "scores" in summary:
            scores = summary["scores"]
            lines.append(
                f"  scores: min {scores['min']:g}, mean {scores['mean']:.3f},"
                f" max {scores['max']:g}"
            )
        length = summary["token_length"]
        percentiles = ", ".join(f"p{p} {length[f'p{p}']}" for p in PERCENTILES)
        lines.append(
            f"  token length: {percentiles}, max {length['max']}"
            f" (mean {length['mean']:.1f}, with [CLS]/[SEP])"
        )
        lines.append(
            f"  truncated to {report['max_seq_length']}: {summary['truncated']}"
            f" ({_percent(summary['truncated'], count)})"
        )
        lines.append(
            f"  [UNK] tokens: {summary['unknown_tokens']} of {summary['tokens']}"
            f" ({100 * summary['unknown_rate']:.2f}%)"
        )
        if "long_text" in summary:
            lines.append(_format_long_text(summary["long_text"], report))
    return "\n".join(lines) + "\n"


def format_data_report_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


def _describe_labels(split: str, examples, output_kind: OutputKind) -> dict:
    """Label counts (or score range) of labelled splits, and group counts."""
    summary = {}
    if split != "test":  # Test labels are placeholders.
        labels = [example.label for example in examples]
        if output_kind is OutputKind.SCORE:
            scores = np.asarray(labels, dtype=np.float64)
            summary["scores"] = {
                "min": float(scores.min()),
                "mean": float(scores.mean()),
                "max": float(scores.max()),
            }
        elif output_kind is OutputKind.LABELS:
            # Examples per label; an example counts once for each of its labels.
            counts = Counter(label for names in labels for label in names)
            summary["labels"] = dict(sorted(counts.items()))
            summary["labels_per_example"] = float(np.mean([len(n) for n in labels]))
        else:
            summary["labels"] = dict(sorted(Counter(labels).items()))
    groups = Counter(example.group for example in examples if example.group)
    if len(groups) > 1:
        summary["groups"] = dict(groups)
    return summary


def _describe_label_counts(cache: FeatureCache, output_kind: OutputKind) -> dict:
    """`_describe_labels` of a streamed classes or multi-label split, from the
    examples per label its cache counted."""
    summary = {"labels": dict(sorted(cache.label_counts.items()))}
    if output_kind is OutputKind.LABELS:
        total = sum(cache.label_counts.values())
        summary["labels_per_example"] = float(total / max(cache.num_examples, 1))
    return summary


def _describe_lengths(lengths: np.ndarray, max_seq_length: int) -> dict:
    """Percentiles of packed lengths, and how many exceed `max_seq_length`."""
    token_length = {
        f"p{p}": int(np.percentile(lengths, p, method="inverted_cdf"))
        for p in PERCENTILES
    }
    token_length.update(
        min=int(lengths.min()), max=int(lengths.max()), mean=float(lengths.mean())
    )
    return {
        "token_length": token_length,
        "truncated": int((lengths > max_seq_length).sum()),
    }


def _describe_long_text(
    long_text: str,
    lengths: np.ndarray,
    max_seq_length: int,
    document_ids: np.ndarray | None,
) -> dict:
    """Tokens past `max_seq_length` (packed lengths beyond it, summed) and,
    for chunks, the windows each example was split into."""
    beyond = np.maximum(lengths - max_seq_length, 0)
    summary = {
        "mode": long_text,
        "tokens_beyond_limit": int(beyond.sum()),
        "examples_beyond_limit": int((beyond > 0).sum()),
    }
    if document_ids is not None:
        windows = np.bincount(document_ids, minlength=len(lengths))
        summary["windows"] = int(windows.sum())
        summary["windows_per_example"] = {
            "mean": float(windows.mean()) if len(windows) else 0.0,
            "max": int(windows.max()) if len(windows) else 0,
        }
    return summary


def _format_long_text(summary: dict, report: dict) -> str:
    line = (
        f"  {summary['mode']}: {summary['tokens_beyond_limit']} tokens beyond "
        f"{report['max_seq_length']}, in {summary['examples_beyond_limit']} examples"
    )
    if "windows" in summary:
        per_example = summary["windows_per_example"]
        line += (
            f"; {summary['windows']} windows, per example mean "
            f"{per_example['mean']:.2f}, max {per_example['max']}"
        )
    return line


def _format_counts(counts: dict, total: int) -> str:
    return ", ".join(
        f"{name}: {count} ({_percent(count, total)})" for name, count in counts.items()
    )


def _percent(count: int, total: int) -> str:
    return f"{100 * count / max(total, 1):.1f}%"
