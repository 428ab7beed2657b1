"""Task processors: data files -> `InputExample`s -> `tf.data` datasets of strings.

`tasks/` knows files and labels, nothing about models.
"""

from tasks.cola import ColaProcessor
from tasks.custom import LABELS_FILE, CsvProcessor, format_label_file
from tasks.errors import DataError, UnknownTaskError
from tasks.example import InputExample
from tasks.mnli import MnliProcessor
from tasks.mrpc import MrpcProcessor
from tasks.options import TaskOptions
from tasks.output_kind import OutputKind
from tasks.processor import DataProcessor, SplitLayout
from tasks.qnli import QnliProcessor
from tasks.qqp import QqpProcessor
from tasks.rte import RteProcessor
from tasks.sst2 import Sst2Processor
from tasks.stsb import StsbProcessor
from tasks.wnli import WnliProcessor
from tasks.xnli import ALL_LANGUAGES, XNLI_LANGUAGES, XnliProcessor

# Task name (as given to --task_name, lowercased) -> processor class.
PROCESSORS = {
    "cola": ColaProcessor,
    "mnli": MnliProcessor,
    "mrpc": MrpcProcessor,
    "qnli": QnliProcessor,
    "qqp": QqpProcessor,
    "rte": RteProcessor,
    "sst-2": Sst2Processor,
    "sts-b": StsbProcessor,
    "wnli": WnliProcessor,
    "xnli": XnliProcessor,
    "csv": CsvProcessor,  # Users' own files.
}

# Other spellings -> the name in PROCESSORS.
TASK_ALIASES = {"sst2": "sst-2", "stsb": "sts-b"}


def get_processor(task_name: str, options: TaskOptions | None = None) -> DataProcessor:
    """Makes the processor of a task, named case-insensitively.

    Args:
        task_name: a key of `PROCESSORS` or `TASK_ALIASES`, in any case.
        options: the task flags (XNLI's language, the csv task's files and
            columns); defaults for every field when None.

    Raises:
        UnknownTaskError: no task has that name.
    """
    name = task_name.lower()
    name = TASK_ALIASES.get(name, name)
    if name not in PROCESSORS:
        raise UnknownTaskError(
            f"Task not found: {task_name}. Known tasks: {', '.join(PROCESSORS)}"
        )
    return PROCESSORS[name].from_options(options or TaskOptions())


__all__ = [
    "ALL_LANGUAGES",
    "LABELS_FILE",
    "PROCESSORS",
    "TASK_ALIASES",
    "XNLI_LANGUAGES",
    "ColaProcessor",
    "CsvProcessor",
    "DataError",
    "DataProcessor",
    "InputExample",
    "MnliProcessor",
    "MrpcProcessor",
    "OutputKind",
    "QnliProcessor",
    "QqpProcessor",
    "RteProcessor",
    "SplitLayout",
    "Sst2Processor",
    "StsbProcessor",
    "TaskOptions",
    "UnknownTaskError",
    "WnliProcessor",
    "XnliProcessor",
    "format_label_file",
    "get_processor",
]
