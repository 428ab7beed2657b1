"""One frozen, validated run configuration; nothing below `main.py` reads flags."""

import dataclasses

from app.errors import ConfigError

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every setting of a run, with the original run_classifier.py defaults."""

    task_name: str
    data_dir: str
    output_dir: str
    init_checkpoint: str | None = None
    bert_config_file: str | None = None
    vocab_file: str | None = None
    do_lower_case: bool = True
    max_seq_length: int = 128
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 1000
    use_tpu: bool = False
    tpu_name: str | None = None
    tpu_zone: str | None = None
    gcp_project: str | None = None
    master: str | None = None
    num_tpu_cores: int = 8
    # Beyond the original.
    seed: int = 12345
    export_dir: str | None = None
    dynamic_padding: bool = True
    pad_to_multiple_of: int = 0  # 0: chosen per device
    precision: str = "auto"
    classifier_dropout: float = 0.1
    # Devices, faults and reproducibility.
    strategy: str = "auto"
    jit_compile: bool = False
    gradient_accumulation_steps: int = 1
    overwrite_output_dir: bool = False
    deterministic: bool = False
    eval_every_steps: int = 0
    eval_every_epoch: bool = False
    early_stopping_patience: int = 0
    num_seeds: int = 1
    bucket_by_length: bool = True
    # Tasks and outputs.
    xnli_language: str = "zh"
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    text_a_column: str = "text"
    text_b_column: str | None = None
    label_column: str = "label"
    id_column: str | None = None
    labels: str | None = None  # comma-separated, as typed
    glue_submission_dir: str | None = None

    @property
    def uses_tpu(self) -> bool:
        return self.use_tpu or bool(self.tpu_name)

    @property
    def evaluates_during_training(self) -> bool:
        return self.do_train and (self.eval_every_steps > 0 or self.eval_every_epoch)

    @property
    def pads_statically(self) -> bool:
        """TPUs compile one program per shape, so they get fixed shapes."""
        return self.uses_tpu or not self.dynamic_padding


def validate(config: RunConfig) -> RunConfig:
    """Checks every flag that can be checked without reading files."""
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
    for name in ("max_seq_length", "train_batch_size", "eval_batch_size"):
        _require_positive(config, name)
    for name in ("predict_batch_size", "save_checkpoints_steps"):
        _require_positive(config, name)
    _require_positive(config, "iterations_per_loop")
    if config.max_seq_length < 3:
        raise ConfigError(
            "--max_seq_length must leave room for [CLS], [SEP] and one token "
            f"(at least 3). Received: max_seq_length={config.max_seq_length}"
        )
    if config.learning_rate <= 0 or config.num_train_epochs <= 0:
        raise ConfigError(
            "--learning_rate and --num_train_epochs must be positive. Received: "
            f"learning_rate={config.learning_rate}, "
            f"num_train_epochs={config.num_train_epochs}"
        )
    if not 0.0 <= config.warmup_proportion <= 1.0:
        raise ConfigError(
            "--warmup_proportion is a fraction of training between 0 and 1. "
            f"Received: warmup_proportion={config.warmup_proportion}"
        )
    _validate_scaling(config)
    if not 0 <= config.pad_to_multiple_of <= config.max_seq_length:
        raise ConfigError(
            "--pad_to_multiple_of rounds each batch's length up to a multiple of "
            "it: 0 (chosen per device) up to --max_seq_length. Received: "
            f"pad_to_multiple_of={config.pad_to_multiple_of}, "
            f"max_seq_length={config.max_seq_length}"
        )
    if config.precision not in PRECISIONS:
        raise ConfigError(
            f"--precision must be one of {', '.join(PRECISIONS)}. "
            f"Received: precision={config.precision}"
        )
    validate_task_options(config)
    return config


def _validate_scaling(config: RunConfig) -> None:
    if config.strategy not in STRATEGIES:
        raise ConfigError(
            f"--strategy must be one of {', '.join(STRATEGIES)}. "
            f"Received: strategy={config.strategy}"
        )
    _require_positive(config, "gradient_accumulation_steps")
    _require_positive(config, "num_seeds")
    if config.eval_every_steps < 0 or config.early_stopping_patience < 0:
        raise ConfigError(
            "--eval_every_steps and --early_stopping_patience cannot be negative. "
            f"Received: eval_every_steps={config.eval_every_steps}, "
            f"early_stopping_patience={config.early_stopping_patience}"
        )
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


def _require_positive(config: RunConfig, name: str) -> None:
    value = getattr(config, name)
    if value <= 0:
        raise ConfigError(f"--{name} must be positive. Received: {name}={value}")


# === Tasks and outputs ===
CUSTOM_TASK = "csv"
_CUSTOM_TASK_FLAGS = (
    "train_file",
    "dev_file",
    "test_file",
    "text_b_column",
    "id_column",
    "labels",
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
    labels = label_list(config)
    if labels is not None and (
        "" in labels or len(set(labels)) != len(labels) or len(labels) < 2
    ):
        raise ConfigError(
            "--labels must list at least two distinct, non-empty labels, "
            f"separated by commas. Received: labels={config.labels}"
        )
