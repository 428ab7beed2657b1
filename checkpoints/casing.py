"""Does `--do_lower_case` match the checkpoint? The original's name check, and
the case setting that a Hugging Face folder or keras-hub preset records."""

import json
import logging
import os
import re

from checkpoints.errors import CheckpointError

logger = logging.getLogger(__name__)

# The flag that fine-tunes despite a mismatch (main.py, convert, tokenize).
OVERRIDE_FLAG = "--allow_case_mismatch"

# The original release's models; the case setting is in the name only.
# Beyond the original's lists: its later releases share one naming pattern
# (the 24 miniatures `uncased_L-4_H-256_A-4`, and `wwm_cased_L-24_H-1024_A-16`).
_RELEASE_NAME = re.compile(r"(wwm_)?(?P<case>uncased|cased)_L-\d+_H-\d+_A-\d+")
LOWERCASED_MODELS = (
    "uncased_L-24_H-1024_A-16",
    "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12",
    "chinese_L-12_H-768_A-12",
)
CASED_MODELS = (
    "cased_L-12_H-768_A-12",
    "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12",
)
# Where a folder records its tokenizer's case: file name, then the JSON keys.
HUGGINGFACE_CASE = ("tokenizer_config.json", ("do_lower_case",))
KERAS_HUB_CASE = ("tokenizer.json", ("config", "lowercase"))


def model_name(init_checkpoint: str | None) -> str | None:
    """The folder name before `bert_model.ckpt`, as the original reads it.

    A folder given without `/bert_model.ckpt` is read as if it had it.
    """
    if not init_checkpoint:
        return None
    path = init_checkpoint
    if "bert_model.ckpt" not in path:
        path = os.path.join(path.rstrip("/" + os.sep), "bert_model.ckpt")
    match = re.match("^.*?([A-Za-z0-9_-]+)/bert_model.ckpt", path)
    return match.group(1) if match else None


def lowercase_from_name(init_checkpoint: str | None) -> bool | None:
    """True or False for the original release's models, else None."""
    name = model_name(init_checkpoint)
    if name in LOWERCASED_MODELS:
        return True
    if name in CASED_MODELS:
        return False
    match = _RELEASE_NAME.fullmatch(name or "")
    return match["case"] == "uncased" if match else None


def recorded_lowercase(folder: str | None) -> tuple[bool | None, str | None]:
    """The case setting a checkpoint folder records, and the file it is in.

    `(None, None)` where the folder records none: an original checkpoint, a
    preset name, or a tokenizer config without the key.
    """
    if not folder or not os.path.isdir(folder):
        return None, None
    for file_name, keys in (HUGGINGFACE_CASE, KERAS_HUB_CASE):
        path = os.path.join(folder, file_name)
        if not os.path.isfile(path):
            continue
        value = _read_json(path)
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, bool):
            return value, path
    return None, None


def validate_case_matches_checkpoint(
    do_lower_case: bool, init_checkpoint: str | None, allow_mismatch: bool = False
) -> None:
    """Raises CheckpointError when the case flag contradicts the checkpoint.

    The casing information should have been stored in bert_config.json, but
    it is not, so the original checks the name of the released model. Hugging
    Face folders and keras-hub presets record it (`tokenizer_config.json`,
    `tokenizer.json`); that record is checked first. With `allow_mismatch`,
    a mismatch is logged instead.
    """
    expected, source = recorded_lowercase(init_checkpoint)
    if expected is None:
        expected = lowercase_from_name(init_checkpoint)
    if expected is None or expected == do_lower_case:
        return
    if source:
        message = _recorded_case_message(do_lower_case, init_checkpoint, source)
    else:
        message = _name_case_message(do_lower_case, init_checkpoint)
    if allow_mismatch:
        logger.warning("%s (%s is set: going on.)", message, OVERRIDE_FLAG)
        return
    raise CheckpointError(message)


def _name_case_message(do_lower_case: bool, init_checkpoint: str) -> str:
    """The original's message, with the override flag as its way out."""
    case_name = "cased" if do_lower_case else "lowercased"
    return (
        "You passed in `--do_lower_case=%s` with `--init_checkpoint=%s`. "
        "However, `%s` seems to be a %s model, so you "
        "should pass in `--do_lower_case=%s` so that the fine-tuning matches "
        "how the model was pre-training. If this error is wrong, pass %s."
        % (
            do_lower_case,
            init_checkpoint,
            model_name(init_checkpoint),
            case_name,
            not do_lower_case,
            OVERRIDE_FLAG,
        )
    )


def _recorded_case_message(
    do_lower_case: bool, init_checkpoint: str, source: str
) -> str:
    key = "do_lower_case" if source.endswith(HUGGINGFACE_CASE[0]) else "lowercase"
    text = "lowercased" if do_lower_case else "cased"  # what the flag feeds
    return (
        f"You passed in `--do_lower_case={do_lower_case}` with "
        f"`--init_checkpoint={init_checkpoint}`, but {source} says "
        f"`{key}: {str(not do_lower_case).lower()}`: the model's vocabulary "
        f"was built for {'cased' if do_lower_case else 'lowercased'} text, "
        f"so {text} input would tokenize into other (or unknown) word pieces. "
        f"Pass `--do_lower_case={not do_lower_case}`, or {OVERRIDE_FLAG} if "
        f"you mean to fine-tune on {text} text. "
        f"Received: do_lower_case={do_lower_case}"
    )


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"Could not read {path}: {error}. Fix the file or download the "
            "checkpoint again."
        ) from error
