"""What a task's model outputs: one answer to "classes, a score, or several labels"."""

import enum


class OutputKind(str, enum.Enum):
    """The kind of answer a task asks of the model.

    Everything that depends on it (the model's head, its loss and metric, the
    export's output name, the result files, the data report) asks this one
    value instead of deciding for itself.
    """

    CLASSES = "classes"  # one label per example: softmax over the labels
    SCORE = "score"  # one real-valued score per example (STS-B): no activation
    LABELS = "labels"  # any number of labels per example: a sigmoid per label

    def num_outputs(self, num_labels: int) -> int:
        """Width of the model's last layer for `num_labels` labels."""
        return 1 if self is OutputKind.SCORE else num_labels

    @property
    def output_name(self) -> str:
        """Name of the model's output, in the export's signature too."""
        return "score" if self is OutputKind.SCORE else "probabilities"
