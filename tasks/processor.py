"""The base class of the task processors: TSV files -> `InputExample`s.

Each processor describes the file of each split with a `SplitLayout` (which
file, whether it has a header, which column holds what) and the base class reads
it, validating every row. This replaces the original's copy-pasted
`get_train_examples` / `get_dev_examples` / `get_test_examples` per processor
while producing the same examples, guids included.

A split may have several parts, one file each (MNLI's dev split is
`dev_matched.tsv` then `dev_mismatched.tsv`); each part's examples carry the
part's `group`, so metrics and predictions can be reported per part.
"""

import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence

import tensorflow as tf

from tasks.errors import DataError
from tasks.example import InputExample
from tasks.options import TaskOptions
from tasks.output_kind import OutputKind
from tasks.tsv import read_tsv

SPLITS = ("train", "dev", "test")

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SplitLayout:
    """Where the examples of one split (or one part of it) sit in its TSV file.

    One layout stands for one `_create_examples` call of the original. The guid
    of a row is `f"{guid_prefix}-{row[guid_column]}"`, or
    `f"{guid_prefix}-{row_index}"` with the 0-based index of the row in the file
    (header included) when `guid_column` is None, as the original's
    `"%s-%s" % (set_type, i)`.

    Args:
        file_name: path of the file relative to the data folder, or a tuple of
            such paths of which the first that exists is read.
        guid_prefix: the original's `set_type`, e.g. `"train"` or `"dev_matched"`.
        has_header: whether line 1 is a header to skip.
        text_a_column: column of the first text.
        text_b_column: column of the second text; None for single-sentence tasks.
        label_column: column of the label; negative counts from the end (`-1` is
            the original's `line[-1]`).
        fixed_label: the label of every row, for test files that have none.
        guid_column: column whose value ends the guid; None for the row index.
        id_column: column of the row's public id (GLUE's `index`), used in
            predictions and leaderboard files; None where there is none.
        group: the group of every example of this file (e.g. `"mismatched"`).
        group_column: column that holds each row's group (XNLI's `language`).
        optional: whether a missing file is skipped instead of an error.
    """

    file_name: str | tuple[str, ...]
    guid_prefix: str
    has_header: bool
    text_a_column: int
    text_b_column: int | None = None
    label_column: int | None = None
    fixed_label: str | None = None
    guid_column: int | None = None
    id_column: int | None = None
    group: str | None = None
    group_column: int | None = None
    optional: bool = False

    def __post_init__(self):
        if (self.label_column is None) == (self.fixed_label is None):
            raise ValueError(
                "A SplitLayout needs exactly one of `label_column` and "
                f"`fixed_label`. Received: label_column={self.label_column}, "
                f"fixed_label={self.fixed_label!r}"
            )
        if self.group is not None and self.group_column is not None:
            raise ValueError(
                "A SplitLayout takes `group` or `group_column`, not both. "
                f"Received: group={self.group!r}, group_column={self.group_column}"
            )

    @property
    def file_names(self) -> tuple[str, ...]:
        """The candidate paths of the file, in order of preference."""
        if isinstance(self.file_name, str):
            return (self.file_name,)
        return tuple(self.file_name)

    @property
    def num_columns(self) -> int:
        """The fewest columns a row needs for every column read to exist.

        Columns read from the end (negative indices) must lie after those read
        from the front, so a row cut short cannot pass off a text as its label.
        """
        columns = [
            self.text_a_column,
            self.text_b_column,
            self.label_column,
            self.guid_column,
            self.id_column,
            self.group_column,
        ]
        from_front = [
            column for column in columns if column is not None and column >= 0
        ]
        from_end = [-column for column in columns if column is not None and column < 0]
        return max(from_front, default=-1) + 1 + max(from_end, default=0)


def glue_layouts(
    text_columns: Sequence[int],
    label_column: int,
    test_text_columns: Sequence[int],
    test_label: str,
) -> dict[str, SplitLayout]:
    """train.tsv, dev.tsv and test.tsv, each with a header; test's column 0 is `index`.

    The layout most GLUE tasks share. Guids are `"train-1"` for line 2, as the
    original's GLUE processors number rows.

    Args:
        text_columns: `(text_a,)` or `(text_a, text_b)` columns of train and dev.
        label_column: the label column of train and dev.
        test_text_columns: the text columns of test.tsv.
        test_label: the placeholder label of the unlabeled test examples.
    """

    def texts(columns: Sequence[int]) -> dict:
        return {
            "text_a_column": columns[0],
            "text_b_column": columns[1] if len(columns) > 1 else None,
        }

    layouts = {
        split: SplitLayout(
            f"{split}.tsv",
            split,
            has_header=True,
            label_column=label_column,
            **texts(text_columns),
        )
        for split in ("train", "dev")
    }
    layouts["test"] = SplitLayout(
        "test.tsv",
        "test",
        has_header=True,
        fixed_label=test_label,
        id_column=0,
        **texts(test_text_columns),
    )
    return layouts


class DataProcessor:
    """Reads the examples of one classification (or regression) task.

    Subclasses set the class attributes below; those with quirks override the
    hooks `get_split_layouts`, `keep_row`, `normalize_label` and
    `describe_kept_rows` (see `XnliProcessor`).

    Attributes:
        name: the task name given to `--task_name`, e.g. `"mrpc"`.
        is_pair: whether examples have a `text_b`.
        labels: the task's labels; a label's index is its class id. Empty for
            tasks that output a score.
        output_kind: what the model outputs: one of the labels (`CLASSES`) or
            a real-valued score per example (`SCORE`, STS-B).
        layouts: the `SplitLayout` of each split the task has, or a tuple of
            layouts for a split read from several files.
        metric_names: the task's metrics, the one papers report first (see
            `app.metrics.METRICS`).
        headline_group: the group whose examples give the original's result
            keys and `test_results.tsv` (MNLI: `"matched"`); None for all.
        group_name: what a group is, for column headers (e.g. `"language"`).
        submission_files: leaderboard file name of each test group.
        submission_format: `"glue"` (`index<TAB>prediction` under a header) or
            `"xtreme"` (one predicted label per line).
    """

    name: str = ""
    is_pair: bool = False
    labels: tuple[str, ...] = ()
    output_kind: OutputKind = OutputKind.CLASSES
    layouts: Mapping[str, SplitLayout | tuple[SplitLayout, ...]] = {}
    metric_names: tuple[str, ...] = ("accuracy",)
    headline_group: str | None = None
    group_name: str = "group"
    submission_files: Mapping[str | None, str] = {}
    submission_format: str = "glue"

    @classmethod
    def from_options(cls, options: TaskOptions) -> "DataProcessor":
        """Makes the processor from the run's task flags."""
        return cls()

    def get_labels(self) -> list[str]:
        """Gets the list of labels for this data set."""
        return list(self.labels)

    def resolve_labels(self, train_examples, saved_labels_path: str | None):
        """The processor with its label list settled; fixed lists stay as they are.

        Tasks whose labels come from the data (`csv`) override this.
        """
        return self

    def get_split_layouts(self) -> Mapping[str, SplitLayout | tuple[SplitLayout, ...]]:
        """The layout of each split; override when it depends on arguments."""
        return self.layouts

    def keep_row(self, split: str, row: list[str]) -> bool:
        """Whether a (well-formed) data row becomes an example."""
        return True

    def normalize_label(self, label: str) -> str:
        """Maps a label as written in the file to one of `labels`."""
        return label

    def describe_kept_rows(self, split: str) -> str:
        """Says which rows `keep_row` keeps, for the error on an empty split."""
        return ""

    def submission_file(self, group: str | None) -> str | None:
        """The leaderboard file of a test group, relative to the submission folder."""
        return self.submission_files.get(group)

    def get_examples(self, data_dir: str, split: str) -> list[InputExample]:
        """Reads and validates the examples of one split, all its parts in order.

        Args:
            data_dir: the folder that holds the task's files (`--data_dir`).
            split: one of `"train"`, `"dev"`, `"test"`.

        Raises:
            DataError: a file is missing, a row is malformed or has an unknown
                label, a file holds no examples, or the task has no such split.
        """
        examples = []
        for layout in self._get_layouts(split):
            path = self._find_data_file(data_dir, split, layout)
            if path is not None:
                examples += self._read_layout(path, split, layout)
        return examples

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        """Gets a collection of `InputExample`s for the train set."""
        return self.get_examples(data_dir, "train")

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        """Gets a collection of `InputExample`s for the dev set."""
        return self.get_examples(data_dir, "dev")

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        """Gets a collection of `InputExample`s for prediction."""
        return self.get_examples(data_dir, "test")

    def _read_layout(
        self, path: str, split: str, layout: SplitLayout
    ) -> list[InputExample]:
        """The examples of one file, every row checked."""
        examples, empty_text_lines = [], []
        for line_number, row in read_tsv(path):
            if (layout.has_header and line_number == 1) or not row:
                continue  # The header, or a blank line (the original crashed on one).
            self._check_num_columns(path, line_number, row, split, layout)
            if self.keep_row(split, row):
                example = self._build_example(path, line_number, row, layout)
                if has_empty_text(example):
                    empty_text_lines.append(line_number)
                examples.append(example)
        warn_empty_texts(path, empty_text_lines)
        if not examples:
            raise DataError(
                f"{path}: no examples for the {split} split of task '{self.name}'."
                f" The file has no data rows{self.describe_kept_rows(split)}."
                " Check that it is the task's file and that it is complete."
            )
        return examples

    def _get_layouts(self, split: str) -> tuple[SplitLayout, ...]:
        """The layouts of `split`, or an error that says which splits exist."""
        if split not in SPLITS:
            raise ValueError(
                f"`split` must be one of {', '.join(SPLITS)}. Received: split={split!r}"
            )
        layouts = self.get_split_layouts()
        if split not in layouts:
            raise DataError(
                f"Task '{self.name}' has no {split} split in its original layout;"
                f" it has: {', '.join(layouts)}. Run without the flag that reads"
                f" the {split} split (--do_train, --do_eval or --do_predict)."
                f" Received: split={split!r}"
            )
        layout = layouts[split]
        return (layout,) if isinstance(layout, SplitLayout) else tuple(layout)

    def _find_data_file(
        self, data_dir: str, split: str, layout: SplitLayout
    ) -> str | None:
        """The path of the layout's file; None for a missing optional file."""
        paths = [os.path.join(data_dir, name) for name in layout.file_names]
        for path in paths:
            if tf.io.gfile.exists(path):
                return path
        if layout.optional:
            logger.info("No %s; skipping it.", " or ".join(paths))
            return None
        if not tf.io.gfile.isdir(data_dir):
            problem = f"The data folder does not exist: {data_dir}."
        else:
            problem = f"Data file not found: {' or '.join(paths)}."
        raise DataError(
            f"{problem} Task '{self.name}' reads its {split} split from"
            f" '{' or '.join(layout.file_names)}' inside --data_dir. Point"
            " --data_dir at the folder that holds the task's files."
            f" Received: data_dir={data_dir}"
        )

    def _check_num_columns(
        self,
        path: str,
        line_number: int,
        row: list[str],
        split: str,
        layout: SplitLayout,
    ) -> None:
        """Raises a `DataError` when a row is too short for the columns read."""
        if len(row) >= layout.num_columns:
            return
        preview = "\t".join(row)[:200]
        raise DataError(
            f"{path}, line {line_number}: found {len(row)} tab-separated"
            f" column(s), but the {split} file of task '{self.name}' needs at"
            f" least {layout.num_columns}. Check that the file is the task's"
            f" '{os.path.basename(path)}' in its original layout, with tabs"
            f" between columns, and fix or remove that line. Received:"
            f" line={preview!r}"
        )

    def _build_example(
        self, path: str, line_number: int, row: list[str], layout: SplitLayout
    ) -> InputExample:
        """Makes the example of one row and checks its label."""
        if layout.guid_column is None:
            guid_suffix = str(line_number - 1)  # The original's 0-based row index.
        else:
            guid_suffix = row[layout.guid_column]
        if layout.fixed_label is not None:
            label = layout.fixed_label
        else:
            label = self.normalize_label(row[layout.label_column])
            self._check_label(path, line_number, label)

        def column(index: int | None, default: str | None = None) -> str | None:
            return default if index is None else row[index]

        return InputExample(
            guid=f"{layout.guid_prefix}-{guid_suffix}",
            text_a=row[layout.text_a_column],
            text_b=column(layout.text_b_column),
            label=label,
            example_id=column(layout.id_column),
            group=column(layout.group_column, default=layout.group),
        )

    def _check_label(self, path: str, line_number: int, label: str) -> None:
        """Raises a `DataError` when `label` is not one of the task's labels."""
        if self.output_kind is OutputKind.SCORE:
            check_score(label, f"{path}, line {line_number}", self.name)
            return
        if label in self.labels:
            return
        raise DataError(
            f"{path}, line {line_number}: label {label!r} is not a label of"
            f" task '{self.name}'. Allowed labels: {list(self.labels)}."
            " Fix the label, or check that --task_name matches the data."
            f" Received: label={label!r}"
        )


def has_empty_text(example: InputExample) -> bool:
    """Whether `text_a`, or a pair's `text_b`, is empty or only whitespace."""
    texts = (example.text_a, example.text_b)
    return any(text is not None and not text.strip() for text in texts)


def warn_empty_texts(path: str, line_numbers: list[int]) -> None:
    """Warns of examples with an empty text, which the original reads as they are.

    They stay (dropping them would change the task's example count and guids),
    but a text lost to a broken export trains the model on nothing.
    """
    if not line_numbers:
        return
    shown = ", ".join(map(str, line_numbers[:10]))
    more = ", ..." if len(line_numbers) > 10 else ""
    logger.warning(
        "%s: %d example(s) with an empty text field, at line(s) %s%s. They are"
        " kept, as the original keeps them; fix or remove those lines if a text"
        " is missing by mistake.",
        path,
        len(line_numbers),
        shown,
        more,
    )


def check_score(label: str, where: str, task_name: str) -> float:
    """The score of a regression label, or a `DataError` naming `where`."""
    try:
        score = float(label)
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        raise DataError(
            f"{where}: task '{task_name}' is a regression task whose labels are"
            " numbers (scores such as 3.8), but this label is not a finite"
            f" number. Fix the label. Received: label={label!r}"
        )
    return score
