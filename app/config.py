"""One frozen, validated run configuration; nothing below `main.py` reads flags.

`RunConfig` is the one definition of every run setting: its default, its help
text and, where it has them, its choices. `main.py` defines one flag per field
from it, so a flag and its field cannot drift apart.
"""

import dataclasses
import math
import os
import types
import typing

from app.errors import ConfigError

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
SAVED_MODEL = "saved_model"
NO_EXPORT = "none"
EXPORT_FORMATS = (SAVED_MODEL, "huggingface", "keras_hub", "onnx")
LONG_TEXT_MODES = ("truncate", "head_tail", "chunks")
CHUNK_POOLINGS = ("mean", "max")
DATA_IN_MEMORY_MODES = ("auto", "true", "false")
# The flag that keeps the first N examples of each split, for quick runs.
SAMPLE_LIMITS = {
    "train": "max_train_samples",
    "dev": "max_eval_samples",
    "test": "max_predict_samples",
}


def setting(default, help: str, choices: tuple[str, ...] | None = None):
    """A RunConfig field: its one default, its flag's help text and choices."""
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every setting of a run, with the original run_classifier.py defaults."""

    # === The original run_classifier.py flags: same names, defaults, meaning ===
    data_dir: str | None = setting(
        None, "The input data dir. Should contain the .tsv files for the task."
    )
    bert_config_file: str | None = setting(
        None,
        "The config json file corresponding to the pre-trained BERT model "
        "(bert_config.json of an original checkpoint; default: the one beside "
        "it). Hugging Face folders and keras-hub presets carry their own.",
    )
    task_name: str | None = setting(None, "The name of the task to train.")
    vocab_file: str | None = setting(
        None,
        "The vocabulary file that the BERT model was trained on (default: the "
        "checkpoint's own vocab.txt, beside an original bert_model.ckpt).",
    )
    output_dir: str | None = setting(
        None, "Where checkpoints, results and logs are written."
    )
    init_checkpoint: str | None = setting(
        None,
        "Initial checkpoint (usually from a pre-trained BERT model): an original "
        "bert_model.ckpt or its folder, a Hugging Face folder, a keras-hub preset "
        "folder or name. The format is detected from what the path holds.",
    )
    do_lower_case: bool = setting(
        True,
        "Whether to lower case the input text. Should be True for uncased models "
        "and False for cased models.",
    )
    max_seq_length: int = setting(
        128,
        "The maximum total input sequence length after WordPiece tokenization. "
        "Longer sequences are truncated.",
    )
    do_train: bool = setting(False, "Whether to run training.")
    do_eval: bool = setting(False, "Whether to run eval on the dev set.")
    do_predict: bool = setting(False, "Whether to predict on the test set.")
    train_batch_size: int = setting(32, "Total batch size for training.")
    eval_batch_size: int = setting(8, "Total batch size for eval.")
    predict_batch_size: int = setting(8, "Total batch size for predict.")
    learning_rate: float = setting(5e-5, "The initial learning rate for Adam.")
    num_train_epochs: float = setting(3.0, "Total number of training epochs.")
    warmup_proportion: float = setting(
        0.1, "Proportion of training to perform linear learning rate warmup for."
    )
    save_checkpoints_steps: int = setting(
        1000, "How often to save the model checkpoint."
    )
    iterations_per_loop: int = setting(
        1000, "How many steps to run per call on TPU (Keras steps_per_execution)."
    )
    use_tpu: bool = setting(False, "Whether to use TPU or GPU/CPU.")
    tpu_name: str | None = setting(None, "The Cloud TPU to use for training.")
    tpu_zone: str | None = setting(None, "[Optional] GCE zone of the Cloud TPU.")
    gcp_project: str | None = setting(None, "[Optional] Project of the Cloud TPU.")
    master: str | None = setting(None, "[Optional] TensorFlow master URL.")
    num_tpu_cores: int = setting(
        8, "Only used if `use_tpu` is True. Total number of TPU cores."
    )
    tpu_job_name: str | None = setting(
        None,
        "Name of TPU worker, if anything other than 'tpu_worker'. Accepted so "
        "that the original's command lines run; TPUStrategy finds its workers "
        "through the cluster resolver, so the value is not used.",
    )

    # === Beyond the original ===
    seed: int = setting(12345, "Seed for weights, dropout and data order.")
    export_dir: str | None = setting(
        None, "Where to write the SavedModel (default: OUTPUT_DIR/export)."
    )
    export_formats: str = setting(
        SAVED_MODEL,
        "What to export, comma-separated: saved_model (at --export_dir, by runs "
        "that train or name --export_dir), huggingface (OUTPUT_DIR/huggingface, a "
        "BertForSequenceClassification folder, also a valid --init_checkpoint), "
        "keras_hub (OUTPUT_DIR/keras_hub, a keras-hub TextClassifier preset), "
        "onnx (OUTPUT_DIR/model.onnx, the token-id model). The last three are "
        "written by every run that lists them. `none` exports nothing (e.g. "
        "for a sweep whose runs are only compared).",
    )
    bucket_by_length: bool = setting(
        True,
        "Batch training examples of similar length together, so dynamic padding "
        "pads little (ignored with static padding).",
    )
    dynamic_padding: bool = setting(
        True,
        "Pad each batch only to its longest example (ignored on TPU, which needs "
        "fixed shapes).",
    )
    pad_to_multiple_of: int = setting(
        0,
        "With dynamic padding, round each batch's length up to a multiple of this. "
        "0: chosen per device (8 on GPUs and with --jit_compile, where fewer "
        "shapes pay; 1 on CPUs, where every padded token costs).",
    )
    precision: str = setting(
        "auto",
        "Compute precision; probabilities and loss stay float32. auto: "
        "mixed_bfloat16 on TPUs and on CPUs with AMX bfloat16 tiles, "
        "mixed_float16 on GPUs with tensor cores, float32 elsewhere (then CPUs "
        "with bfloat16 instructions may evaluate and predict in mixed_bfloat16).",
        choices=PRECISIONS,
    )
    classifier_dropout: float = setting(
        0.1,
        "Dropout rate before the classifier layer, in [0, 1); 0.1 as the original.",
    )
    cpu_speedups: bool = setting(
        True,
        "CPU-only speed changes to the running model, each proven equal to the "
        "plain model by tests (in training, dropout draws other random masks of "
        "the same rate); false runs the plain keras-hub model.",
    )
    allow_case_mismatch: bool = setting(
        False,
        "Fine-tune even when --do_lower_case contradicts the checkpoint's own case "
        "setting (its release name, or do_lower_case in its tokenizer_config.json); "
        "the mismatch is logged as a warning.",
    )

    # === Long documents ===
    long_text: str = setting(
        "truncate",
        "Texts longer than --max_seq_length. truncate: keep the first tokens (the "
        "original). head_tail: keep the first quarter of the room (rounded up) "
        "and the last tokens for the rest, as Sun et al. 2019's best (128 + 382 "
        "for --max_seq_length=512); pairs are cut to the lengths truncate keeps. "
        "chunks: split each text into windows of --max_seq_length overlapping by "
        "--doc_stride tokens; training uses every window with the document's "
        "label, evaluation and prediction pool the windows' outputs per document "
        "(--chunk_pooling). For sentence pairs chunks keeps text_a whole in every "
        "window and windows text_b.",
        choices=LONG_TEXT_MODES,
    )
    doc_stride: int = setting(
        32,
        "--long_text=chunks: tokens shared by consecutive windows of a text; less "
        "than the window's room for text (--max_seq_length less [CLS] and [SEP]).",
    )
    chunk_pooling: str = setting(
        "mean",
        "--long_text=chunks: how a document's windows are combined: the mean or "
        "the max, per class, of the windows' log-probabilities (the mean equals "
        "averaging the logits), or of the scores of a score task.",
        choices=CHUNK_POOLINGS,
    )

    # === Devices, faults and reproducibility ===
    strategy: str = setting(
        "auto",
        "tf.distribute strategy. auto: TPU with --use_tpu/--tpu_name, multi-worker "
        "when TF_CONFIG names several workers, mirrored on several GPUs, else "
        "default.",
        choices=STRATEGIES,
    )
    jit_compile: bool = setting(False, "Compile the train step with XLA.")
    gradient_accumulation_steps: int = setting(
        1,
        "Average the gradients of this many smaller batches per update; "
        "--train_batch_size stays the batch of one update.",
    )
    overwrite_output_dir: bool = setting(
        False, "Replace the checkpoints of a different run found in --output_dir."
    )
    deterministic: bool = setting(
        False,
        "Use deterministic TF ops: two runs with the same --seed give the same "
        "results.",
    )
    eval_every_steps: int = setting(
        0,
        "Evaluate on the dev set every N steps while training and keep the best "
        "checkpoint by the task's metric (0: only at the end).",
    )
    eval_every_epoch: bool = setting(
        False, "Evaluate at the end of every epoch while training."
    )
    early_stopping_patience: int = setting(
        0, "Stop after this many evaluations without a better dev metric (0: never)."
    )
    num_seeds: int = setting(
        1,
        "Run this many seeds (--seed, --seed+1, ...) in OUTPUT_DIR/seed_N and "
        "write the mean, standard deviation and median of every metric.",
    )
    # === Tasks and outputs ===
    xnli_language: str = setting(
        "zh",
        "XNLI: the language to train and evaluate on (ar, bg, de, el, en, es, fr, "
        "hi, ru, sw, th, tr, ur, vi, zh), or `all` for every language, with "
        "accuracy per language.",
    )
    train_file: str | None = setting(
        None,
        "--task_name=csv: training data, a path or glob (relative ones are under "
        "--data_dir). .tsv (no quoting, as GLUE), .csv (quoted fields may hold "
        "commas and line breaks) or .jsonl/.json (one object per line); CSV and "
        "TSV files start with a header line.",
    )
    dev_file: str | None = setting(
        None, "--task_name=csv: evaluation data (--do_eval)."
    )
    test_file: str | None = setting(None, "--task_name=csv: data to predict on.")
    text_a_column: str = setting(
        "text", "--task_name=csv: column of the text (name or 0-based index)."
    )
    text_b_column: str | None = setting(
        None,
        "--task_name=csv: column of the second text of sentence pairs, if any.",
    )
    label_column: str = setting(
        "label", "--task_name=csv: column of the label (optional in --test_file)."
    )
    id_column: str | None = setting(
        None,
        "--task_name=csv: column of a row id to put in predictions.tsv "
        "(default: the row number).",
    )
    labels: str | None = setting(
        None,
        "--task_name=csv: the labels, comma-separated, in class id order. Default: "
        "the training labels, sorted (numerically if all are numbers), saved as "
        "OUTPUT_DIR/labels.txt and reused when evaluating or predicting.",
    )
    glue_submission_dir: str | None = setting(
        None,
        "With --do_predict: write the leaderboard files here (GLUE: CoLA.tsv, "
        "MNLI-m.tsv, ... with `index<TAB>prediction`; XNLI: xnli/test-LANG.tsv).",
    )
    multi_label: bool = setting(
        False,
        "--task_name=csv: each row has a set of labels (one sigmoid output per "
        "label, its bias starting at the label's log-odds in the training data; "
        "binary cross-entropy): a JSON list in .jsonl files, a string "
        "split on --label_delimiter in CSV and TSV files.",
    )
    label_delimiter: str = setting(
        "|", "--multi_label: what separates a row's labels in CSV and TSV files."
    )
    multi_label_threshold: str = setting(
        "0.5",
        "--multi_label: a label is predicted when its probability reaches this "
        "number, or `tuned`: the threshold that maximises micro-F1 on the dev "
        "set (needs --do_eval), logged and stored with the export.",
    )
    class_weights: str = setting(
        "none",
        "Weights of the training loss: none, balanced (each class weighted by "
        "examples / (classes * its examples); --multi_label: each label's "
        "positives weighted by its negatives / positives), or a FILE of "
        "`label<TAB>weight` lines.",
    )
    max_train_samples: int = setting(
        0, "Train on the first N training examples only, for quick runs (0: all)."
    )
    max_eval_samples: int = setting(
        0, "Evaluate on the first N dev examples only (0: all)."
    )
    max_predict_samples: int = setting(
        0, "Predict the first N test examples only (0: all)."
    )

    # === Data bigger than memory ===
    data_in_memory: str = setting(
        "auto",
        "How the csv task reads its train, dev and test splits. true: into "
        "memory. false: streamed into an on-disk feature cache, which training, "
        "evaluation (also during training) and prediction read back, so memory "
        "does not grow with the number of rows (training data is read once more "
        "first, for its labels). auto: a split streams when its files are big "
        "(STREAM_BYTES in app/streaming.py). Under several workers a streamed "
        "training split of several files is sharded by file. The GLUE tasks' "
        "files are always read into memory.",
        choices=DATA_IN_MEMORY_MODES,
    )
    feature_cache: bool = setting(
        True,
        "Keep a streamed split's tokenized rows in OUTPUT_DIR/feature_cache, keyed "
        "by the files' content, vocabulary, casing, max_seq_length and task "
        "options, so a rerun reuses them. false: the rows go to a temporary "
        "folder that is deleted when the run ends.",
    )
    feature_cache_dir: str | None = setting(
        None,
        "Where --feature_cache keeps the caches (default: OUTPUT_DIR/feature_cache). "
        "A cache is only reused for the same files and settings, so runs on the "
        "same data (other seeds, learning rates or output dirs) can share one "
        "folder and tokenize once; --num_seeds shares one by default.",
    )

    @property
    def uses_tpu(self) -> bool:
        return self.use_tpu or bool(self.tpu_name)

    @property
    def feature_cache_path(self) -> str:
        """Where kept feature caches go: --feature_cache_dir or its default."""
        return self.feature_cache_dir or os.path.join(self.output_dir, "feature_cache")

    @property
    def evaluates_during_training(self) -> bool:
        return self.do_train and (self.eval_every_steps > 0 or self.eval_every_epoch)

    @property
    def export_format_names(self) -> tuple[str, ...]:
        """--export_formats as a tuple of names, in the order given; none: ()."""
        if self.export_formats.strip() == NO_EXPORT:
            return ()
        names = (name.strip() for name in self.export_formats.split(","))
        return tuple(dict.fromkeys(name for name in names if name))

    @property
    def pads_statically(self) -> bool:
        """TPUs compile one program per shape, so they get fixed shapes."""
        return self.uses_tpu or not self.dynamic_padding

    def task_options(self):
        """The task settings, as the one `tasks.TaskOptions` every processor gets.

        Each TaskOptions field is the RunConfig field of the same name;
        `--labels` comes as typed and is split here.
        """
        from tasks import TaskOptions  # tasks/ loads TensorFlow.

        names = [field.name for field in dataclasses.fields(TaskOptions)]
        values = {name: getattr(self, name) for name in names}
        return TaskOptions(**{**values, "labels": label_list(self)})


def value_type(field: dataclasses.Field) -> type:
    """The type of a setting's value: `str` for `str | None`."""
    kinds = [kind for kind in typing.get_args(field.type) if kind is not types.NoneType]
    return kinds[0] if kinds else field.type


def validate(config: RunConfig) -> RunConfig:
    """Checks every flag that can be checked without reading files.

    Runs before anything is read or written, so a bad value costs nothing.
    """
    if not (config.do_train or config.do_eval or config.do_predict):
        raise ConfigError(
            "At least one of `do_train`, `do_eval` or `do_predict` must be True. "
            "Pass --do_train, --do_eval and/or --do_predict."
        )
    _require(config.task_name, "task_name", "for example --task_name=mrpc")
    if not is_custom_task(config):
        _require(
            config.data_dir, "data_dir", "the folder holding the task's .tsv files"
        )
    _require(config.output_dir, "output_dir", "a folder for checkpoints and results")
    if not config.init_checkpoint and not config.bert_config_file:
        raise ConfigError(
            "No pretrained weights given. Pass --init_checkpoint=PATH: a Hugging "
            "Face folder, a keras-hub preset folder or handle, or an original "
            "bert_model.ckpt (with --bert_config_file and --vocab_file)."
        )
    _validate_choices(config)
    _validate_export_formats(config)
    _validate_numbers(config)
    _validate_scaling(config)
    validate_task_options(config)
    _validate_streaming(config)
    return config


def _validate_streaming(config: RunConfig) -> None:
    if config.data_in_memory == "false" and not is_custom_task(config):
        raise ConfigError(
            "--data_in_memory=false streams the csv task's files; the "
            f"{config.task_name} task's files are read into memory. Drop the flag "
            f"or use --task_name=csv. Received: task_name={config.task_name}, "
            "data_in_memory=false"
        )


_POSITIVE = (
    "max_seq_length",
    "train_batch_size",
    "eval_batch_size",
    "predict_batch_size",
    "learning_rate",
    "num_train_epochs",
    "save_checkpoints_steps",
    "iterations_per_loop",
    "num_tpu_cores",
    "gradient_accumulation_steps",
    "num_seeds",
)
_NOT_NEGATIVE = (
    "eval_every_steps",
    "early_stopping_patience",
    "seed",
    "max_train_samples",
    "max_eval_samples",
    "max_predict_samples",
    "doc_stride",
)
_LARGEST_SEED = 2**32 - 1  # NumPy's seeds are 32-bit.


def _validate_choices(config: RunConfig) -> None:
    for field in dataclasses.fields(config):
        choices = field.metadata.get("choices")
        value = getattr(config, field.name)
        if choices and value not in choices:
            raise ConfigError(
                f"--{field.name} must be one of {', '.join(choices)}. "
                f"Received: {field.name}={value}"
            )


def _validate_export_formats(config: RunConfig) -> None:
    names = config.export_format_names
    unknown = [name for name in names if name not in EXPORT_FORMATS]
    if unknown or not (names or config.export_formats.strip() == NO_EXPORT):
        problem = f"an unknown format {unknown[0]!r}" if unknown else "no format"
        raise ConfigError(
            f"--export_formats lists {problem}; the known ones are "
            f"{', '.join(EXPORT_FORMATS)} (comma-separated), or {NO_EXPORT}. "
            f"Received: export_formats={config.export_formats}"
        )
    if config.export_dir and SAVED_MODEL not in names:
        raise ConfigError(
            "--export_dir is where the SavedModel goes, but --export_formats "
            f"does not list {SAVED_MODEL}. Add it, or drop --export_dir. "
            f"Received: export_formats={config.export_formats}, "
            f"export_dir={config.export_dir}"
        )


def _validate_numbers(config: RunConfig) -> None:
    """Numbers are finite and in range: a nan learning rate fails here, not mid-run."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value_type(field) is float and not math.isfinite(value):
            raise ConfigError(
                f"--{field.name} must be a finite number. "
                f"Received: {field.name}={value}"
            )
        if field.name in _POSITIVE and not value > 0:
            raise ConfigError(
                f"--{field.name} must be positive. Received: {field.name}={value}"
            )
        if field.name in _NOT_NEGATIVE and value < 0:
            raise ConfigError(
                f"--{field.name} must be 0 or more. Received: {field.name}={value}"
            )
    _validate_ranges(config)


def _validate_ranges(config: RunConfig) -> None:
    if config.max_seq_length < 3:
        raise ConfigError(
            "--max_seq_length must leave room for [CLS], [SEP] and one token "
            f"(at least 3). Received: max_seq_length={config.max_seq_length}"
        )
    if not 0.0 <= config.warmup_proportion <= 1.0:
        raise ConfigError(
            "--warmup_proportion is a fraction of training between 0 and 1. "
            f"Received: warmup_proportion={config.warmup_proportion}"
        )
    if not 0.0 <= config.classifier_dropout < 1.0:
        raise ConfigError(
            "--classifier_dropout is the fraction of features dropped: at least 0"
            " and below 1 (1 would drop everything). "
            f"Received: classifier_dropout={config.classifier_dropout}"
        )
    if not 0 <= config.pad_to_multiple_of <= config.max_seq_length:
        raise ConfigError(
            "--pad_to_multiple_of rounds each batch's length up to a multiple of "
            "it: 0 (chosen per device) up to --max_seq_length. Received: "
            f"pad_to_multiple_of={config.pad_to_multiple_of}, "
            f"max_seq_length={config.max_seq_length}"
        )
    if config.long_text == "chunks" and config.doc_stride >= config.max_seq_length - 2:
        raise ConfigError(
            "--doc_stride is the overlap of consecutive windows and must be less "
            "than a window's room for text (--max_seq_length less [CLS] and "
            f"[SEP]: {config.max_seq_length - 2}). Lower --doc_stride or raise "
            f"--max_seq_length. Received: doc_stride={config.doc_stride}, "
            f"max_seq_length={config.max_seq_length}"
        )
    if config.seed + config.num_seeds - 1 > _LARGEST_SEED:
        raise ConfigError(
            f"--seed (plus --num_seeds - 1) must be at most {_LARGEST_SEED}. "
            f"Received: seed={config.seed}, num_seeds={config.num_seeds}"
        )


def _validate_scaling(config: RunConfig) -> None:
    if config.early_stopping_patience and not config.evaluates_during_training:
        raise ConfigError(
            "--early_stopping_patience counts evaluations during training: also "
            "pass --eval_every_steps=N or --eval_every_epoch."
        )
    if config.train_batch_size % config.gradient_accumulation_steps:
        raise ConfigError(
            "--train_batch_size is the batch of one update and must split evenly "
            "into --gradient_accumulation_steps batches. Received: "
            f"train_batch_size={config.train_batch_size}, "
            f"gradient_accumulation_steps={config.gradient_accumulation_steps}"
        )


def _require(value, flag: str, hint: str) -> None:
    if not value:
        raise ConfigError(f"--{flag} is required: {hint}.")


# === Tasks and outputs ===
CUSTOM_TASK = "csv"
_CUSTOM_TASK_FLAGS = (
    "train_file",
    "dev_file",
    "test_file",
    "text_b_column",
    "id_column",
    "labels",
    "multi_label",
)


def is_custom_task(config: RunConfig) -> bool:
    return (config.task_name or "").lower() == CUSTOM_TASK


def label_list(config: RunConfig) -> tuple[str, ...] | None:
    """--labels as a tuple of labels; None when not given."""
    if not config.labels:
        return None
    return tuple(label.strip() for label in config.labels.split(","))


def validate_task_options(config: RunConfig) -> None:
    """Checks the task flags: XNLI's language, the csv task's files and labels."""
    from tasks import ALL_LANGUAGES, XNLI_LANGUAGES

    if config.xnli_language not in XNLI_LANGUAGES + (ALL_LANGUAGES,):
        raise ConfigError(
            f"--xnli_language must be one of {', '.join(XNLI_LANGUAGES)} or "
            f"{ALL_LANGUAGES}. Received: xnli_language={config.xnli_language}"
        )
    if is_custom_task(config):
        _validate_custom_task(config)
    else:
        for name in _CUSTOM_TASK_FLAGS:
            if getattr(config, name):
                raise ConfigError(
                    f"--{name} is a flag of the custom data task; --task_name="
                    f"{config.task_name} reads its own files from --data_dir. "
                    f"Pass --task_name=csv, or drop --{name}. "
                    f"Received: {name}={getattr(config, name)}"
                )
    if config.glue_submission_dir and not config.do_predict:
        raise ConfigError(
            "--glue_submission_dir holds test set predictions: pass --do_predict "
            "too. Received: glue_submission_dir="
            f"{config.glue_submission_dir}, do_predict=False"
        )
    if config.glue_submission_dir and is_custom_task(config):
        raise ConfigError(
            "--glue_submission_dir writes GLUE and XNLI leaderboard files; the "
            "csv task has no leaderboard (see predictions.tsv instead). "
            f"Received: glue_submission_dir={config.glue_submission_dir}"
        )


def _validate_custom_task(config: RunConfig) -> None:
    for split, action in (
        ("train", "do_train"),
        ("dev", "do_eval"),
        ("test", "do_predict"),
    ):
        if getattr(config, action) and not getattr(config, f"{split}_file"):
            raise ConfigError(
                f"--task_name=csv with --{action} reads the {split} split from "
                f"--{split}_file: pass a path or glob (relative ones are read "
                f"under --data_dir). Received: {split}_file=None"
            )
    _validate_multi_label(config)
    labels = label_list(config)
    if labels is not None and (
        "" in labels or len(set(labels)) != len(labels) or len(labels) < 2
    ):
        raise ConfigError(
            "--labels must list at least two distinct, non-empty labels, "
            f"separated by commas. Received: labels={config.labels}"
        )


TUNED = "tuned"


def multi_label_threshold(config: RunConfig) -> float | None:
    """--multi_label_threshold as a number; None for `tuned` (chosen on dev)."""
    if config.multi_label_threshold == TUNED:
        return None
    return float(config.multi_label_threshold)


def _validate_multi_label(config: RunConfig) -> None:
    """A threshold in (0, 1) or `tuned` (with --do_eval); a one-line delimiter."""
    threshold = config.multi_label_threshold
    if threshold != TUNED:
        try:
            value = float(threshold)
        except ValueError:
            value = math.nan
        if not 0.0 < value < 1.0:
            raise ConfigError(
                "--multi_label_threshold is a probability between 0 and 1 "
                f"(exclusive), or {TUNED}. Received: multi_label_threshold={threshold}"
            )
    elif config.multi_label and not config.do_eval:
        raise ConfigError(
            f"--multi_label_threshold={TUNED} chooses the threshold on the dev set:"
            " pass --do_eval and --dev_file too, or a number such as 0.5."
        )
    delimiter = config.label_delimiter
    if not delimiter or any(c in delimiter for c in "\t\r\n"):
        raise ConfigError(
            "--label_delimiter separates a row's labels: one or more characters,"
            f" no tab or line break. Received: label_delimiter={delimiter!r}"
        )
