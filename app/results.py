"""Result files in `output_dir`, in the original's formats plus new ones.

Every file is written atomically: readers never see half a file.
"""

import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from app.multi_label import predict_labels
from tasks import InputExample, OutputKind


def write_text_atomically(path: str, text: str) -> None:
    """Writes `text` to `path` so that readers never see half a file."""
    write_lines_atomically(path, [text])


def write_lines_atomically(path: str, lines: Iterable[str]) -> None:
    """Writes `lines` to `path` as they come, so that readers never see half
    a file; a big file is never one string in memory."""
    temporary_path = f"{path}.tmp-{os.getpid()}"
    with open(temporary_path, "w", encoding="utf-8") as file:
        file.writelines(lines)
    os.replace(temporary_path, path)


def format_eval_results(metrics: dict) -> str:
    """`key = value` lines sorted by key, as the original's eval_results.txt."""
    return "".join(f"{key} = {metrics[key]}\n" for key in sorted(metrics))


def format_eval_json(metrics: dict) -> str:
    """The same metrics as eval_results.txt, as one JSON object."""
    return json.dumps(metrics, indent=2, sort_keys=True) + "\n"


def format_test_results(probabilities: np.ndarray, num_examples: int) -> str:
    """One line of tab-separated class probabilities per test example."""
    check_row_count(probabilities, num_examples)
    return "".join(test_result_lines(probabilities))


def test_result_lines(probabilities: np.ndarray) -> Iterator[str]:
    """The lines of test_results.tsv, one at a time."""
    for row in np.asarray(probabilities, dtype=np.float32):
        yield "\t".join(str(probability) for probability in row) + "\n"


def format_predictions(
    examples: Sequence[InputExample],
    outputs: np.ndarray,
    labels: Sequence[str],
    group_name: str | None = None,
    output_kind: OutputKind = OutputKind.CLASSES,
    threshold: float = 0.5,
    label_delimiter: str = "|",
) -> str:
    """predictions.tsv: a header, then one row per example, in input order.

    Columns: `id` (the example's id, else its 0-based row number in the
    split), the group (named `group_name`) when given, `prediction` (the
    label name; for multi-label the names of the labels whose probability
    reaches `threshold`, joined by `label_delimiter`; or the score) and, for
    classes and labels, `probability_LABEL` for each label.

    Args:
        examples: the predicted examples.
        outputs: (num_examples, num_labels) probabilities, or (num_examples, 1)
            scores (`OutputKind.SCORE`).
        labels: the label list.
        group_name: header of the group column; None for no group column.
        output_kind: what `outputs` hold.
    """
    check_row_count(outputs, len(examples))
    ids = (example_id(example, number) for number, example in enumerate(examples))
    groups = (example.group or "" for example in examples) if group_name else None
    lines = prediction_lines(
        ids,
        outputs,
        labels,
        groups,
        group_name,
        output_kind,
        threshold,
        label_delimiter,
    )
    return "".join(lines)


def prediction_lines(
    ids: Iterable[str],
    outputs: np.ndarray,
    labels: Sequence[str],
    groups: Iterable[str] | None = None,
    group_name: str | None = None,
    output_kind: OutputKind = OutputKind.CLASSES,
    threshold: float = 0.5,
    label_delimiter: str = "|",
) -> Iterator[str]:
    """The lines of predictions.tsv (`format_predictions`), one at a time,
    from each example's id (and group, with `group_name`) and outputs."""
    outputs = np.asarray(outputs, dtype=np.float32)
    has_classes = output_kind is not OutputKind.SCORE
    header = ["id"] + ([group_name] if group_name else []) + ["prediction"]
    header += [f"probability_{label}" for label in labels] if has_classes else []
    yield "\t".join(header) + "\n"
    groups = groups if group_name else itertools.repeat(None)
    for identifier, group, row in zip(ids, groups, outputs):
        fields = [identifier] + ([group] if group_name else [])
        fields.append(_prediction(row, labels, output_kind, threshold, label_delimiter))
        fields += [str(value) for value in row] if has_classes else []
        yield "\t".join(fields) + "\n"


def format_submission(
    examples: Sequence[InputExample],
    outputs: np.ndarray,
    labels: Sequence[str],
    submission_format: str = "glue",
    output_kind: OutputKind = OutputKind.CLASSES,
) -> str:
    """A leaderboard file: GLUE's `index<TAB>prediction`, or XTREME's labels.

    GLUE files have the header `index<TAB>prediction` and one row per test
    example, with the test file's `index` and the predicted label (or score);
    XTREME files hold one predicted label per line.
    """
    check_row_count(outputs, len(examples))
    outputs = np.asarray(outputs, dtype=np.float32)
    predictions = [_prediction(row, labels, output_kind) for row in outputs]
    if submission_format == "xtreme":
        return "".join(f"{prediction}\n" for prediction in predictions)
    rows = [
        f"{example_id(example, row_number)}\t{prediction}\n"
        for row_number, (example, prediction) in enumerate(zip(examples, predictions))
    ]
    return "index\tprediction\n" + "".join(rows)


def example_id(example: InputExample, row_number: int) -> str:
    """The example's own id, else its row number in the split."""
    return example.example_id if example.example_id is not None else str(row_number)


def _prediction(
    row: np.ndarray,
    labels: Sequence[str],
    output_kind,
    threshold: float = 0.5,
    label_delimiter: str = "|",
) -> str:
    """The predicted label name, the predicted labels' names, or the score."""
    if output_kind is OutputKind.SCORE:
        return f"{float(row[0]):.6g}"
    if output_kind is OutputKind.LABELS:
        chosen = np.flatnonzero(predict_labels(row, threshold))
        return label_delimiter.join(labels[int(index)] for index in chosen)
    return labels[int(np.argmax(row))]


def check_row_count(outputs: np.ndarray, num_examples: int) -> None:
    if len(outputs) != num_examples:
        raise RuntimeError(
            f"Predicted {len(outputs)} rows for {num_examples} test "
            "examples; refusing to write a result file that does not line "
            "up with the input."
        )
