"""A run's examples, by split, and the same splits packed once for every step."""

import collections
import dataclasses
import hashlib
from collections.abc import Iterable

from app import phase_times
from app.feature_cache import FeatureCache
from app.input_pipeline import PackedExamples, pack_splits
from app.run_record import update_examples_hash
from tasks import DataProcessor, InputExample
from tasks.custom import label_counts


@dataclasses.dataclass(frozen=True)
class SplitSummary:
    """What a streamed split's labels and content come to, in one pass."""

    num_examples: int
    label_counts: collections.Counter  # `tasks.custom.label_counts`
    data_sha256: str  # `run_record.hash_examples`


def summarize_split(examples: Iterable[InputExample]) -> SplitSummary:
    """Reads `examples` once, keeping none of them."""
    digest, counts, num_examples = hashlib.sha256(), collections.Counter(), 0
    for example in examples:
        update_examples_hash(digest, [example])
        counts.update(label_counts([example]))
        num_examples += 1
    return SplitSummary(num_examples, counts, digest.hexdigest())


@dataclasses.dataclass(frozen=True)
class TaskData:
    """The examples of each split the run asked for (None where not asked).

    `packed` holds each of them tokenized and packed (`pack_task_data`):
    training, every evaluation, prediction and the data report read those
    rows, so a split is tokenized once per process. A streamed split has
    no examples in memory: its rows are in `cached`, on disk.
    """

    processor: DataProcessor
    labels: list[str]
    train: list | None
    dev: list | None
    test: list | None
    packed: dict[str, PackedExamples] = dataclasses.field(default_factory=dict)
    # Each label's training loss weight (`--class_weights`); None: unweighted.
    class_weights: dict[str, float] | None = None
    # Splits read as a stream (None above), and their feature caches once
    # built (`app.streaming`).
    streamed: tuple[str, ...] = ()
    cached: dict[str, FeatureCache] = dataclasses.field(default_factory=dict)
    # A streamed training split's examples per label, count and hash, read
    # before its cache is built (`app.streaming.summarize_split`).
    train_summary: SplitSummary | None = None
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
