"""The `csv` task: users' own TSV, CSV or JSON-lines files, no code needed.

    python main.py --task_name=csv --data_dir=data --train_file=train.csv \
        --dev_file=dev.csv --text_a_column=review --label_column=stars ...

Columns are named (from the header line, or the JSON keys) or given as 0-based
indices. Without `--labels` the label list is the training labels, sorted
(numerically when they all are numbers), and `labels.txt` in `output_dir`
keeps it for later evaluation and prediction runs.
"""

import collections
import copy
import json
import os
import re
from collections.abc import Iterator, Sequence

import tensorflow as tf

from tasks.errors import DataError
from tasks.example import InputExample
from tasks.options import TaskOptions
from tasks.output_kind import OutputKind
from tasks.processor import DataProcessor
from tasks.tables import read_records, table_format

LABELS_FILE = "labels.txt"
# What multi-label runs report; micro-F1, the first, ranks checkpoints.
MULTI_LABEL_METRICS = ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss")
_GLOB_CHARACTERS = re.compile(r"[*?\[]")
_BREAKS = re.compile(r"[\t\r\n]")


# The fields of an example that come from columns; each is read from the
# column its `<field>_column` option names.
COLUMN_FIELDS = ("text_a", "text_b", "label", "id")


class CsvProcessor(DataProcessor):
    """Reads examples from TSV, CSV or JSON-lines files named by flags.

    Args:
        options: the task flags. Of them, this task reads `train_file`,
            `dev_file` and `test_file` (path or glob of each split's file(s),
            relative ones under `data_dir`; globs read every match in sorted
            order), the `*_column` options (name or 0-based index, as a
            string; `text_b_column` None for single texts; the label column
            may be missing in test files) and `labels` (None to infer them
            from the training data). With `multi_label`, a row's labels are
            a JSON list (JSON lines, or a CSV/TSV cell starting with `[`) or
            a string split on `label_delimiter`; each example's label is
            then a tuple of label names.
    """

    name = "csv"

    def __init__(self, options: TaskOptions = TaskOptions()):
        self.options = options
        self.files = {
            "train": options.train_file,
            "dev": options.dev_file,
            "test": options.test_file,
        }
        self.is_pair = options.text_b_column is not None
        self.labels = tuple(options.labels) if options.labels else ()
        if options.multi_label:
            self.output_kind = OutputKind.LABELS
            self.metric_names = MULTI_LABEL_METRICS

    @classmethod
    def from_options(cls, options: TaskOptions) -> "CsvProcessor":
        return cls(options)

    def get_examples(self, data_dir: str, split: str) -> list[InputExample]:
        """Reads every file of a split; labels are checked once a list is known.

        Raises:
            DataError: no file for the split, a file that cannot be read, a bad
                row (named by file and line), or a split without examples.
        """
        return list(self.iter_examples(data_dir, split))

    def iter_examples(self, data_dir: str, split: str) -> Iterator[InputExample]:
        """The examples of `get_examples` one at a time, for splits that stream.

        Raises:
            DataError: as `get_examples`, when the bad row is reached.
        """
        for _, example in self.iter_examples_by_file(data_dir, split):
            yield example

    def iter_examples_by_file(
        self, data_dir: str, split: str
    ) -> Iterator[tuple[int, InputExample]]:
        """`iter_examples`, each example with the index of its file among
        `find_files`' (a feature cache keeps each file's rows apart).

        Raises:
            DataError: as `get_examples`, when the bad row is reached.
        """
        num_examples = 0
        label_types = _LabelTypes()
        for index, path in enumerate(self.find_files(data_dir, split)):
            for example in self._read_file(path, split, num_examples, label_types):
                num_examples += 1
                yield index, example
        if not num_examples:
            raise DataError(
                f"No examples in the {split} split: {self.files[split]} holds no"
                " data rows. Check that the flag names the right file."
                f" Received: {split}_file={self.files[split]}"
            )

    def resolve_labels(
        self,
        train_examples: list[InputExample] | None,
        saved_labels_path: str | None,
    ) -> "CsvProcessor":
        """The processor with its label list: given, inferred, or saved before.

        Raises:
            DataError: no list can be had, it has fewer than two labels, or
                it differs from the saved one.
        """
        counts = label_counts(train_examples) if train_examples else None
        return self.resolve_labels_from_counts(counts, saved_labels_path)

    def resolve_labels_from_counts(
        self, train_counts: collections.Counter | None, saved_labels_path: str | None
    ) -> "CsvProcessor":
        """`resolve_labels` from the training examples per label
        (`label_counts`), for a training split that streams."""
        saved = read_label_file(saved_labels_path)
        if train_counts and not self.labels:
            self._check_two_training_labels(train_counts)
        labels = self.labels or sorted_labels(train_counts or {}) or saved
        if not labels:
            raise DataError(
                "The csv task needs its label list before evaluating or"
                f" predicting, and there is no {saved_labels_path}. Pass"
                " --labels=LABEL,LABEL,... in the training run's order, or the"
                " --output_dir of the training run, which saved it."
            )
        if len(labels) < 2:
            source = "--labels" if self.labels else saved_labels_path
            raise DataError(
                f"The label list from {source} has {len(labels)} label, but a"
                " classification task needs at least two. Pass"
                " --labels=LABEL,LABEL,... listing every label of the task."
                f" Received: labels={list(labels)}"
            )
        if saved and tuple(saved) != tuple(labels):
            raise DataError(
                f"{saved_labels_path} lists the labels {saved} of the run that"
                f" trained in this --output_dir, but this run's labels are"
                f" {list(labels)}: class ids would not match the model's outputs."
                " Pass the same --labels (or none), or another --output_dir."
            )
        resolved = copy.copy(self)
        resolved.labels = tuple(labels)
        return resolved

    def _check_two_training_labels(self, counts: collections.Counter) -> None:
        """Refuses training labels that all have one value: nothing to classify.

        One label would make a one-output model, which is no classifier. With
        `--labels` the list is given and may name labels the file lacks.
        """
        if len(counts) >= 2:
            return
        per_label = ", ".join(f"{label!r}: {n}" for label, n in counts.items())
        raise DataError(
            f"{self.files['train']} (--train_file): every training label is the"
            f" same ({per_label} examples), but a classification task needs at"
            " least two labels. Check that --label_column names the label"
            " column and that the file is complete, or pass"
            " --labels=LABEL,LABEL,... listing every label of the task."
            f" Received: label_column={self.options.label_column},"
            f" label_counts={dict(counts)}"
        )

    def find_files(self, data_dir: str, split: str) -> list[str]:
        """The files a split flag names, globs expanded in sorted order."""
        pattern = self.files.get(split)
        if not pattern:
            raise DataError(
                f"The csv task reads its {split} split from --{split}_file, which"
                f" is not set. Pass --{split}_file=PATH (a file or a glob, under"
                f" --data_dir if relative). Received: {split}_file={pattern}"
            )
        path = os.path.join(data_dir or "", pattern)
        if _GLOB_CHARACTERS.search(pattern):
            paths = sorted(tf.io.gfile.glob(path))
        else:
            paths = [path] if tf.io.gfile.exists(path) else []
        if not paths:
            raise DataError(
                f"No file matches {path} for the {split} split. Check"
                f" --{split}_file and --data_dir. Received:"
                f" {split}_file={pattern}, data_dir={data_dir}"
            )
        for path in paths:
            table_format(path)  # Every file's format is known before reading.
        return paths

    def _read_file(
        self, path: str, split: str, first_index: int, label_types: "_LabelTypes"
    ) -> Iterator[InputExample]:
        """The examples of one file; `first_index` numbers their guids."""
        records = read_records(path)
        header = None
        if table_format(path) != "jsonl":
            _, header = next(records, (0, None))
        read_fields = None
        for index, (line_number, record) in enumerate(records, start=first_index):
            if read_fields is None:
                names = header if header is not None else list(record)
                read_fields = self.fields_reader(path, names, split)
            values = read_fields(record, line_number)
            where = f"{path}, line {line_number}"
            if self.options.multi_label:
                label = self._read_label_set(values["label"], where, split)
            else:
                label = self._read_label(values["label"], where, label_types)
            yield InputExample(
                guid=f"{split}-{index}",
                text_a=values["text_a"],
                text_b=values.get("text_b"),
                label=label,
                example_id=values.get("id"),
            )

    def fields_reader(self, path: str, names: list, split: str):
        """A function from one record of `path` and its line number to its
        text, label and id fields, for the file whose header (or first JSON
        object's keys) is `names`.

        Raises:
            DataError: a column flag names no column of `names`; the function
                raises it for a bad record, named by file and line.
        """
        columns = self._resolve_columns(path, names, split)
        header = None if table_format(path) == "jsonl" else names

        def read_fields(record, line_number: int) -> dict:
            return _read_fields(record, columns, header, f"{path}, line {line_number}")

        return read_fields

    def _resolve_columns(self, path: str, names: list, split: str) -> dict:
        """Each column field's index (CSV, TSV) or key (JSON); None if unset.

        In test files the label column may be missing (None).
        """
        is_json = table_format(path) == "jsonl"
        columns = {}
        for field in COLUMN_FIELDS:
            flag = f"{field}_column"
            spec = getattr(self.options, flag)
            required = not (field == "label" and split == "test")
            columns[field] = (
                None
                if spec is None
                else _resolve_column(path, names, flag, spec, is_json, required)
            )
        return columns

    def _read_label(self, value, where: str, label_types: "_LabelTypes") -> str:
        """The label as a string, checked against the list when one is known."""
        if value is _ABSENT:
            return self.labels[0] if self.labels else ""  # The original's placeholder.
        label = _label_string(value, where)
        label_types.check(value, label, where)
        self._check_known_label(label, where)
        return label

    def _read_label_set(self, value, where: str, split: str) -> tuple[str, ...]:
        """A multi-label row's labels, in the order written, each once.

        Training and dev rows need at least one label; test rows may have none.
        """
        if value is _ABSENT:
            return ()
        labels = tuple(
            dict.fromkeys(split_labels(value, self.options.label_delimiter, where))
        )
        if not labels and split != "test":
            raise DataError(
                f"{where}: the row has no labels, but every {split} row of a"
                " --multi_label task needs at least one. Add its labels (a JSON"
                " list, or labels separated by --label_delimiter="
                f"{self.options.label_delimiter!r}), or remove the row."
                f" Received: label={value!r}"
            )
        for label in labels:
            self._check_known_label(label, where)
        return labels

    def _check_known_label(self, label: str, where: str) -> None:
        """Refuses a label outside the label list, once a list is known."""
        if self.labels and label not in self.labels:
            raise DataError(
                f"{where}: label {label!r} is not in the label list"
                f" {list(self.labels)}. The model only knows these labels (from"
                " --labels or the training run's labels.txt); fix the label, or"
                f" train again with it. Received: label={label!r}"
            )


_ABSENT = object()  # A test file without a label column.


def _resolve_column(
    path: str, names: list, flag: str, spec: str, is_json: bool, required: bool
):
    """The index or key of one column, or an error that lists the columns."""
    if spec in names:
        return spec if is_json else names.index(spec)
    if spec.isdigit() and int(spec) < len(names):
        return names[int(spec)] if is_json else int(spec)
    if not required:
        return None
    kind = "keys of its first object" if is_json else "header's columns"
    raise DataError(
        f"{path}: no column {spec!r} for --{flag}. The file's {kind} are:"
        f" {list(names)}. Pass a column name or a 0-based index. Received:"
        f" {flag}={spec}"
    )


def _read_fields(record, columns: dict, header, where: str) -> dict:
    """The text, label and id fields of one record, each checked."""
    if header is not None and len(record) != len(header):
        problem = "too few" if len(record) < len(header) else "too many"
        raise DataError(
            f"{where}: {problem} columns: found {len(record)}, but the header has"
            f" {len(header)}. Fix or remove that row (in CSV files, quote fields"
            f" that hold commas or line breaks). Received: row={record!r:.200}"
        )
    values = {}
    for name in COLUMN_FIELDS:
        column = columns[name]
        if column is None:
            values[name] = _ABSENT if name == "label" else None
            continue
        if isinstance(record, dict) and column not in record:
            raise DataError(
                f"{where}: the object has no {column!r} field. Every line needs"
                f" the same fields. Received: keys={list(record)}"
            )
        values[name] = record[column]
    for name in ("text_a", "text_b"):
        if values[name] is not None:
            _check_text(values[name], where, name)
    if values["id"] is not None:
        values["id"] = _label_string(values["id"], where, "id")
    return values


def _check_text(text, where: str, name: str) -> None:
    """Texts are non-empty strings."""
    if isinstance(text, str) and text.strip():
        return
    raise DataError(
        f"{where}: {name} is empty or not a string. Every example needs a"
        f" non-empty text; fix or remove that row. Received: {name}={text!r}"
    )


def _label_string(value, where: str, name: str = "label") -> str:
    """A label (or id) as the string the label list (or output file) holds.

    Line breaks and tabs are refused: labels.txt and the prediction files
    hold one label or id per line, in tab-separated columns.
    """
    if isinstance(value, bool):
        return str(value).lower()  # JSON's spelling.
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip() and not _BREAKS.search(value):
        return value
    raise DataError(
        f"{where}: the {name} is empty, not a string or number, or holds a tab or"
        f" line break. Fix or remove that row. Received: {name}={value!r}"
    )


class _LabelTypes:
    """Remembers the first label's type, to refuse a split that mixes types."""

    def __init__(self):
        self.first = None  # (type name, label, where)

    def check(self, value, label: str, where: str) -> None:
        kind = _label_type(value)
        if self.first is None:
            self.first = (kind, label, where)
            return
        first_kind, first_label, first_where = self.first
        if kind != first_kind:
            raise DataError(
                f"{where}: label {label!r} is {kind}, but labels before it are"
                f" {first_kind} (first: {first_label!r} at {first_where}). Mixed"
                " label types usually mean a shifted column or a stray value;"
                f" fix the data. Received: label={value!r}"
            )


def _label_type(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float) or _is_number(value):
        return "a number"
    return "text"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def split_labels(value, delimiter: str, where: str) -> list[str]:
    """The labels of one multi-label cell: a JSON list, or a delimited string.

    A JSON-lines value may be a list; a CSV or TSV cell (a string) that starts
    with `[` is read as a JSON list; any other string is split on `delimiter`.
    """
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise DataError(
                f"{where}: the labels start with `[` but are not a JSON list"
                f" ({error.msg}). Write them as a JSON list such as"
                f' ["news", "sport"], or separated by {delimiter!r}.'
                f" Received: label={value!r:.200}"
            ) from error
    if isinstance(value, list):
        if not all(isinstance(item, str | int | float) for item in value):
            raise DataError(
                f"{where}: the label list holds something that is not a label"
                " (a string or number). Fix the list."
                f" Received: label={value!r:.200}"
            )
        return [_label_string(item, where) for item in value]
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(delimiter)]
        return [_label_string(part, where) for part in parts if part]
    return [_label_string(value, where)]


def label_counts(examples: list[InputExample]) -> collections.Counter:
    """Examples per label; a multi-label example counts once for each label."""
    return collections.Counter(
        label
        for example in examples
        for label in (
            example.label if isinstance(example.label, tuple) else (example.label,)
        )
    )


def infer_labels(examples: list[InputExample]) -> tuple[str, ...]:
    """The distinct labels, sorted: as numbers when all are numbers."""
    return sorted_labels(label_counts(examples))


def sorted_labels(labels) -> tuple[str, ...]:
    """`labels` (any iterable of label names) sorted: as numbers when all are."""
    labels = set(labels)
    if all(_is_number(label) for label in labels):
        return tuple(sorted(labels, key=lambda label: (float(label), label)))
    return tuple(sorted(labels))


def read_label_file(path: str | None) -> list[str] | None:
    """The labels saved in `labels.txt`, one a line; None if there is none."""
    if path is None or not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as file:
        return [line.rstrip("\n") for line in file if line.rstrip("\n")]


def format_label_file(labels: Sequence[str]) -> str:
    return "".join(f"{label}\n" for label in labels)
