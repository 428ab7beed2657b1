"""Write any supported checkpoint as a keras-hub preset folder, once.

    python -m checkpoints.convert \
        --init_checkpoint=uncased_L-12_H-768_A-12/bert_model.ckpt \
        --output_dir=presets/bert_base_uncased

The folder holds the backbone and the tokenizer (vocabulary, case and accent
settings); load it anywhere with
`keras_hub.models.BertBackbone.from_preset(DIR)` and
`keras_hub.models.BertTokenizer.from_preset(DIR)`, or pass it back here as
`--init_checkpoint=DIR`. `--bert_config_file` and `--vocab_file` default to
the files beside an original checkpoint; `--do_lower_case` to the setting the
checkpoint records, or that its name implies, else True as in the original.
"""

import logging
import os
import sys

import keras_hub
from absl import flags

from checkpoints.casing import validate_case_matches_checkpoint
from checkpoints.errors import CheckpointError
from checkpoints.loader import load_backbone, read_pretrained

logger = logging.getLogger(__name__)


def define_flags() -> flags.FlagValues:
    """This tool's flags, apart from main.py's (same names, own registry)."""
    values = flags.FlagValues()
    flags.DEFINE_string(
        "init_checkpoint",
        None,
        "Weights to convert: an original bert_model.ckpt (or its folder), a "
        "Hugging Face folder, a keras-hub preset folder or name.",
        flag_values=values,
    )
    flags.DEFINE_string(
        "bert_config_file",
        None,
        "bert_config.json of an original checkpoint (default: beside it).",
        flag_values=values,
    )
    flags.DEFINE_string(
        "vocab_file",
        None,
        "vocab.txt (default: the checkpoint's own).",
        flag_values=values,
    )
    flags.DEFINE_bool(
        "do_lower_case",
        None,
        "Whether the tokenizer lowercases and strips accents (default: what "
        "the checkpoint records or its name implies, else True).",
        flag_values=values,
    )
    flags.DEFINE_bool(
        "allow_case_mismatch",
        False,
        "Convert even when --do_lower_case contradicts the checkpoint's own "
        "case setting (its release name or tokenizer config).",
        flag_values=values,
    )
    flags.DEFINE_string(
        "output_dir",
        None,
        "A new or empty folder for the preset.",
        flag_values=values,
    )
    return values


def convert(
    init_checkpoint: str,
    output_dir: str,
    bert_config_file: str | None = None,
    vocab_file: str | None = None,
    do_lower_case: bool | None = None,
    allow_case_mismatch: bool = False,
) -> str:
    """Writes the backbone and tokenizer of a checkpoint as a keras-hub preset."""
    _check_output_dir(output_dir)
    pretrained = read_pretrained(init_checkpoint, vocab_file, bert_config_file)
    if do_lower_case is None:
        do_lower_case = pretrained.lowercase is not False
        logger.info("Tokenizer lowercases: %s (from the checkpoint).", do_lower_case)
    validate_case_matches_checkpoint(
        do_lower_case, init_checkpoint, allow_case_mismatch
    )
    backbone = load_backbone(pretrained)
    # The original strips accents exactly when it lowercases.
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=pretrained.vocabulary,
        lowercase=do_lower_case,
        strip_accents=do_lower_case,
    )
    os.makedirs(output_dir, exist_ok=True)
    backbone.save_to_preset(output_dir)
    tokenizer.save_to_preset(output_dir)
    logger.info("Wrote the keras-hub preset %s", output_dir)
    return output_dir


def _check_output_dir(output_dir: str) -> None:
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        raise CheckpointError(
            f"--output_dir={output_dir} is not empty. Pass a new or empty folder."
        )
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise CheckpointError(f"--output_dir={output_dir} is a file, not a folder.")


def main(argv: list[str]) -> int:
    """Parses flags and converts; errors print one line and return 1."""
    values = define_flags()
    if "--help" in argv[1:] or "-h" in argv[1:]:
        print(__doc__ + "\n" + values.get_help())
        return 0
    try:
        values(argv)
        for name in ("init_checkpoint", "output_dir"):
            if not values[name].value:
                raise flags.Error(f"--{name} is required")
    except flags.Error as error:
        print(f"ERROR: {error}\nSee --help for the flags.", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        convert(
            values.init_checkpoint,
            values.output_dir,
            values.bert_config_file,
            values.vocab_file,
            values.do_lower_case,
            values.allow_case_mismatch,
        )
    except CheckpointError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv))
