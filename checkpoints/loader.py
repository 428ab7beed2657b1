"""Find out what a checkpoint path holds, then read its vocabulary and backbone.

Formats:
- `original`: a Google BERT release, `bert_model.ckpt.{index,data-*}` with
  `bert_config.json` and `vocab.txt` (beside it, or named by the flags);
  `--init_checkpoint` is the prefix `.../bert_model.ckpt` or its folder.
- `huggingface`: a folder with `config.json` (a `model_type`), `vocab.txt` and
  `model.safetensors`. Safetensors only: reading `pytorch_model.bin` means
  unpickling, which can run code (README: how to convert one).
- `keras_hub`: a preset folder written by `save_to_preset` (`metadata.json`).
- `keras_hub_handle`: a preset name such as `bert_base_en_uncased`; keras-hub
  downloads it, so it needs a network.
"""

import contextlib
import dataclasses
import json
import logging
import os

import keras
import keras_hub
import tensorflow as tf
from safetensors import SafetensorError

from checkpoints import original
from checkpoints.casing import lowercase_from_name, recorded_lowercase
from checkpoints.errors import CheckpointError
from checkpoints.safetensors_check import check_safetensors

logger = logging.getLogger(__name__)

ORIGINAL = "original"
HUGGINGFACE = "huggingface"
KERAS_HUB = "keras_hub"
KERAS_HUB_HANDLE = "keras_hub_handle"


@dataclasses.dataclass(frozen=True)
class PretrainedBert:
    """What a run needs to know about its weights before building a model."""

    path: str
    format: str
    vocabulary: list[str]
    max_sequence_length: int
    # The checkpoint's own case setting, where it records one (an original
    # checkpoint: where its release name implies one).
    lowercase: bool | None = None
    # The vocab.txt read, where the vocabulary came from a file.
    vocab_path: str | None = None
    # Original checkpoints only: where the files are, and the parsed config.
    original_files: original.OriginalFiles | None = None
    bert_config: dict | None = None


def detect_format(path: str) -> str:
    """Names the format of the weights at `path`, or raises CheckpointError."""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "metadata.json")):
            return KERAS_HUB
        if os.path.exists(os.path.join(path, "config.json")):
            return HUGGINGFACE
        if original.checkpoint_prefix(path):
            return ORIGINAL
        raise CheckpointError(
            f"--init_checkpoint={path} is a folder, but holds neither an "
            "original BERT checkpoint (bert_model.ckpt.index), a Hugging Face "
            "model (config.json) nor a keras-hub preset (metadata.json). Point "
            "it at the folder that holds those files."
        )
    if original.checkpoint_prefix(path):
        return ORIGINAL
    if ".ckpt" in os.path.basename(path):
        raise CheckpointError(
            f"Checkpoint {path}.index not found. Pass "
            "--init_checkpoint=DIR/bert_model.ckpt (the prefix of the "
            ".index and .data-* files) or the folder that holds them."
        )
    if os.sep in path or os.path.exists(path) or "." in os.path.basename(path):
        raise CheckpointError(
            f"--init_checkpoint={path} does not exist. Pass an original "
            "bert_model.ckpt, a Hugging Face folder, a keras-hub preset folder "
            "or a keras-hub preset name."
        )
    return KERAS_HUB_HANDLE


def read_pretrained(
    init_checkpoint: str,
    vocab_file: str | None = None,
    bert_config_file: str | None = None,
) -> PretrainedBert:
    """Reads the vocabulary and shape facts of a checkpoint, not its weights.

    Everything that can be checked without loading weights is checked here,
    so that bad files fail a run before it trains.

    Args:
        init_checkpoint: an original `bert_model.ckpt` (or its folder), a
            Hugging Face folder, a keras-hub preset folder or handle.
        vocab_file: the `vocab.txt` (default: the checkpoint's own).
        bert_config_file: the `bert_config.json` of an original checkpoint
            (default: the one beside it); other formats carry their config.
    """
    checkpoint_format = detect_format(init_checkpoint)
    if checkpoint_format == ORIGINAL:
        return _read_original(init_checkpoint, vocab_file, bert_config_file)
    if bert_config_file:
        logger.warning(
            "Ignoring --bert_config_file=%s: the %s checkpoint %s carries its "
            "own config.",
            bert_config_file,
            checkpoint_format,
            init_checkpoint,
        )
    if checkpoint_format == HUGGINGFACE:
        return _read_huggingface(init_checkpoint, vocab_file)
    return _read_preset(init_checkpoint, checkpoint_format, vocab_file)


def _read_huggingface(folder: str, vocab_file: str | None) -> PretrainedBert:
    config_path = os.path.join(folder, "config.json")
    config = _read_json(config_path)
    _check_huggingface(folder, config)
    weights_path = os.path.join(folder, "model.safetensors")
    if os.path.exists(weights_path):
        check_safetensors(weights_path, config, config_path)
    vocab_file = vocab_file or os.path.join(folder, "vocab.txt")
    return PretrainedBert(
        path=folder,
        format=HUGGINGFACE,
        vocabulary=read_vocabulary(vocab_file),
        max_sequence_length=config["max_position_embeddings"],
        lowercase=recorded_lowercase(folder)[0],
        vocab_path=vocab_file,
    )


def _read_preset(preset: str, checkpoint_format: str, vocab_file) -> PretrainedBert:
    config = _load_preset_config(preset)
    vocabulary, lowercase = vocab_file, None
    if vocab_file is None:
        tokenizer = _load_preset_tokenizer(preset)
        vocabulary, lowercase = tokenizer.vocabulary, tokenizer.lowercase
    return PretrainedBert(
        path=preset,
        format=checkpoint_format,
        vocabulary=read_vocabulary(vocabulary),
        max_sequence_length=config["max_sequence_length"],
        lowercase=lowercase,
        vocab_path=vocab_file,
    )


def _read_original(init_checkpoint, vocab_file, bert_config_file) -> PretrainedBert:
    prefix = original.checkpoint_prefix(init_checkpoint)
    files = original.find_files(prefix, bert_config_file, vocab_file)
    config = original.read_bert_config(files.config_path)
    original.check_checkpoint(original.open_reader(prefix), files, config)
    pretrained = PretrainedBert(
        path=init_checkpoint,
        format=ORIGINAL,
        vocabulary=read_vocabulary(files.vocab_path),
        max_sequence_length=config["max_position_embeddings"],
        lowercase=lowercase_from_name(init_checkpoint),
        vocab_path=files.vocab_path,
        original_files=files,
        bert_config=config,
    )
    _check_vocabulary_size(pretrained, config["vocab_size"])
    return pretrained


def load_backbone(pretrained: PretrainedBert, dtype=None, weights: bool = True):
    """Builds the keras-hub BertBackbone with the checkpoint's weights.

    `weights=False` builds the same backbone without reading its weights, for
    a run that restores every weight from a checkpoint of its own (which
    checks that it sets them all).

    Weights a checkpoint overwrites are built as zeros, without drawing their
    random initial values. A weight still all zeros after loading, whose
    initializer is not zeros, may be one the checkpoint lacks: the backbone
    is then built again with its initializers, as a plain build would be.
    """
    with initializers_skipped() as skipped:
        backbone = _build_backbone(pretrained, dtype, weights)
    if weights and not all(tf.reduce_any(variable.value != 0) for variable in skipped):
        backbone = _build_backbone(pretrained, dtype, weights)
    return backbone


@contextlib.contextmanager
def initializers_skipped():
    """Float variables created inside start at zeros: their initializers
    (random draws over every weight) are not run. Only for layers whose every
    weight is set right after. Integer ones (dropout's seed states, not among
    a model's weights) are initialized as usual. Yields the list of the
    variables skipped whose initializer would not have given zeros.

    It patches Keras' variable class for the block: no other thread may
    create variables meanwhile."""
    variable_class = keras.Variable
    name = "_initialize_with_initializer"
    own = vars(variable_class).get(name)  # None: inherited, left so after
    run_initializer = getattr(variable_class, name)
    skipped = []

    def zeros(variable, initializer):
        if not tf.as_dtype(variable._dtype).is_floating:
            return run_initializer(variable, initializer)
        if not isinstance(initializer, keras.initializers.Zeros):
            skipped.append(variable)
        variable._initialize(tf.zeros(variable._shape, variable._dtype))

    setattr(variable_class, name, zeros)
    try:
        yield skipped
    finally:
        if own is None:
            delattr(variable_class, name)
        else:
            setattr(variable_class, name, own)


def _build_backbone(pretrained: PretrainedBert, dtype, weights: bool):
    if pretrained.format == ORIGINAL:
        if not weights:
            config = original.backbone_config(pretrained.bert_config)
            return keras_hub.models.BertBackbone(**config, dtype=dtype)
        return original.build_backbone(
            pretrained.original_files, pretrained.bert_config, dtype
        )
    try:
        backbone = keras_hub.models.BertBackbone.from_preset(
            pretrained.path, dtype=dtype, load_weights=weights
        )
    except (OSError, ValueError, KeyError, SafetensorError) as error:
        raise CheckpointError(
            f"Could not load the weights in {pretrained.path} "
            f"({pretrained.format}): {_short_message(error)}. Download or "
            "convert the weights again, with the config they came with."
        ) from error
    _check_vocabulary_size(pretrained, backbone.vocabulary_size)
    if not weights:
        return backbone
    logger.info(
        "Loaded %d weights from %s (%s).",
        len(backbone.weights),
        pretrained.path,
        pretrained.format,
    )
    return backbone


def read_vocabulary(vocabulary) -> list[str]:
    """A WordPiece vocabulary as a list, from a list or a `vocab.txt` path.

    Lines are stripped of surrounding whitespace, as the original
    `tokenization.load_vocab` strips them; line N is token id N.
    """
    if isinstance(vocabulary, str):
        tokens, source = _read_vocabulary_file(vocabulary), vocabulary
    else:
        tokens, source = list(vocabulary), "The vocabulary"
    missing = [t for t in ("[UNK]", "[CLS]", "[SEP]", "[PAD]") if t not in tokens]
    if missing:
        raise CheckpointError(
            f"{source} lacks the BERT tokens {missing}. Pass the vocab.txt that "
            "came with the checkpoint."
        )
    seen = {}
    for line, token in enumerate(tokens, start=1):
        if token in seen:
            raise CheckpointError(
                f"{source} lists {token!r} twice (lines {seen[token]} and "
                f"{line}), so token ids would not match the embeddings. Pass "
                "the vocab.txt that came with the checkpoint."
            )
        seen[token] = line
    return tokens


def _read_vocabulary_file(path: str) -> list[str]:
    if not os.path.isfile(path):
        raise CheckpointError(
            f"Vocabulary file {path} not found. Pass --vocab_file=PATH to the "
            "vocab.txt that came with the checkpoint."
        )
    try:
        with open(path, encoding="utf-8") as file:
            return [line.strip() for line in file]
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(
            f"Could not read the vocabulary file {path}: {error}. Pass "
            "--vocab_file=PATH to the vocab.txt that came with the checkpoint."
        ) from error


def _check_vocabulary_size(pretrained: PretrainedBert, embedding_rows: int) -> None:
    if len(pretrained.vocabulary) != embedding_rows:
        source = pretrained.vocab_path or "The vocabulary"
        raise CheckpointError(
            f"{source} has {len(pretrained.vocabulary)} tokens but the "
            f"weights in {pretrained.path} embed {embedding_rows}. Pass the "
            "vocab.txt that belongs to this checkpoint."
        )


def _check_huggingface(path: str, config: dict) -> None:
    if config.get("model_type") not in ("bert", None):
        raise CheckpointError(
            f"{os.path.join(path, 'config.json')} describes a "
            f"'{config.get('model_type')}' model; only BERT models can be "
            "fine-tuned here."
        )
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return
    if os.path.exists(os.path.join(path, "pytorch_model.bin")):
        # Reading a pickle can run code; this project never unpickles.
        raise CheckpointError(
            f"{path} holds its weights as pytorch_model.bin only; they are read "
            "from model.safetensors alone, since reading a pickle can run code. "
            'Convert it once where transformers is installed: python -c "from '
            f"transformers import AutoModel; AutoModel.from_pretrained('{path}')"
            f".save_pretrained('{path}')\""
        )
    raise CheckpointError(
        f"{path} holds no weights: expected model.safetensors beside config.json."
    )


def _load_preset_config(preset: str) -> dict:
    if os.path.isdir(preset):
        return _read_json(os.path.join(preset, "config.json"))["config"]
    try:
        config = keras_hub.models.BertBackbone.from_preset(preset, load_weights=False)
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"Could not read the keras-hub preset {preset}: {error}"
        ) from error
    return config.get_config()


def _load_preset_tokenizer(preset: str):
    try:
        return keras_hub.models.BertTokenizer.from_preset(preset)
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"Could not read the tokenizer of the keras-hub preset {preset}: "
            f"{error}. Pass --vocab_file=PATH."
        ) from error


def _short_message(error: Exception) -> str:
    """The error's first line, without the values Keras prints after it."""
    message = str(error).split(" Target variable:")[0].strip()
    first_line = message.splitlines()[0] if message else type(error).__name__
    return first_line[:400]


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"Could not read {path}: {error}") from error
