"""The task flags of a run, handed as one object to the processor that needs them."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TaskOptions:
    """Settings that pick or shape a task's data; each processor reads its own.

    `app.config.RunConfig.task_options()` builds it from the run's flags: each
    field here is the flag of the same name, with its default.

    Args:
        xnli_language: XNLI language code, or `"all"` for every language.
        train_file: `csv` task: path or glob of the training file(s).
        dev_file: `csv` task: path or glob of the evaluation file(s).
        test_file: `csv` task: path or glob of the prediction file(s).
        text_a_column: `csv` task: name or 0-based index of the first text.
        text_b_column: `csv` task: name or index of the second text, if any.
        label_column: `csv` task: name or index of the label.
        id_column: `csv` task: name or index of a row id, if any.
        labels: `csv` task: the label list; None to infer it from training data.
        multi_label: `csv` task: each row has a set of labels.
        label_delimiter: `csv` task, `multi_label`: separates a row's labels
            in CSV and TSV files.
    """

    xnli_language: str = "zh"
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    text_a_column: str = "text"
    text_b_column: str | None = None
    label_column: str = "label"
    id_column: str | None = None
    labels: tuple[str, ...] | None = None
    multi_label: bool = False
    label_delimiter: str = "|"
