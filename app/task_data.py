"""A run's examples, by split, and the same splits packed once for every step."""

import dataclasses

from app import phase_times
from app.input_pipeline import PackedExamples, pack_splits
from tasks import DataProcessor


@dataclasses.dataclass(frozen=True)
class TaskData:
    """The examples of each split the run asked for (None where not asked).

    `packed` holds each of them tokenized and packed (`pack_task_data`):
    training, every evaluation, prediction and the data report read those
    rows, so a split is tokenized once per process.
    """

    processor: DataProcessor
    labels: list[str]
    train: list | None
    dev: list | None
    test: list | None
    packed: dict[str, PackedExamples] = dataclasses.field(default_factory=dict)
    # Each label's training loss weight (`--class_weights`); None: unweighted.
    class_weights: dict[str, float] | None = None
    # Each label's starting output bias (`app.output_bias`); None: zeros.
    output_bias: dict[str, float] | None = None

    def splits(self) -> dict:
        """The splits that were read, by name."""
        names = ("train", "dev", "test")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    @property
    def num_labels(self) -> int:
        """Model outputs: one per class, or one for a score."""
        return self.processor.output_kind.num_outputs(len(self.labels))


@phase_times.timed("pack")
def pack_task_data(data: TaskData, preprocessor) -> TaskData:
    """`data` with every split it holds packed by `preprocessor`."""
    processor = data.processor
    packed = pack_splits(
        data.splits(),
        data.labels,
        processor.is_pair,
        preprocessor,
        processor.output_kind,
    )
    return dataclasses.replace(data, packed=packed)
