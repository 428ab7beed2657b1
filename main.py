"""Fine-tune BERT for text classification with the original run_classifier.py flags.

    python main.py --task_name=MRPC --do_train --do_eval --data_dir=glue/MRPC \
        --init_checkpoint=PATH --output_dir=/tmp/mrpc
"""

import dataclasses
import logging
import os
import sys

from absl import app as absl_app  # `app` is this project's package.
from absl import flags

# === The original run_classifier.py flags: same names, defaults, meaning ===
flags.DEFINE_string(
    "data_dir", None, "The input data dir. Should contain the .tsv files for the task."
)
flags.DEFINE_string(
    "bert_config_file",
    None,
    "The config json file corresponding to the pre-trained BERT model "
    "(bert_config.json of an original checkpoint; default: the one beside "
    "it). Hugging Face folders and keras-hub presets carry their own.",
)
flags.DEFINE_string("task_name", None, "The name of the task to train.")
flags.DEFINE_string(
    "vocab_file",
    None,
    "The vocabulary file that the BERT model was trained on (default: the "
    "checkpoint's own vocab.txt, beside an original bert_model.ckpt).",
)
flags.DEFINE_string(
    "output_dir", None, "Where checkpoints, results and logs are written."
)
flags.DEFINE_string(
    "init_checkpoint",
    None,
    "Initial checkpoint (usually from a pre-trained BERT model): an original "
    "bert_model.ckpt or its folder, a Hugging Face folder, a keras-hub preset "
    "folder or name. The format is detected from what the path holds.",
)
flags.DEFINE_bool(
    "do_lower_case",
    True,
    "Whether to lower case the input text. Should be True for uncased models "
    "and False for cased models.",
)
flags.DEFINE_integer(
    "max_seq_length",
    128,
    "The maximum total input sequence length after WordPiece tokenization. "
    "Longer sequences are truncated.",
)
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_bool("do_predict", False, "Whether to predict on the test set.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs.")
flags.DEFINE_float(
    "warmup_proportion",
    0.1,
    "Proportion of training to perform linear learning rate warmup for.",
)
flags.DEFINE_integer(
    "save_checkpoints_steps", 1000, "How often to save the model checkpoint."
)
flags.DEFINE_integer(
    "iterations_per_loop",
    1000,
    "How many steps to run per call on TPU (Keras steps_per_execution).",
)
flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")
flags.DEFINE_string("tpu_name", None, "The Cloud TPU to use for training.")
flags.DEFINE_string("tpu_zone", None, "[Optional] GCE zone of the Cloud TPU.")
flags.DEFINE_string("gcp_project", None, "[Optional] Project of the Cloud TPU.")
flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")
flags.DEFINE_integer(
    "num_tpu_cores", 8, "Only used if `use_tpu` is True. Total number of TPU cores."
)

# === Beyond the original ===
flags.DEFINE_integer("seed", 12345, "Seed for weights, dropout and data order.")
flags.DEFINE_string(
    "export_dir", None, "Where to write the SavedModel (default: OUTPUT_DIR/export)."
)
flags.DEFINE_bool(
    "bucket_by_length",
    True,
    "Batch training examples of similar length together, so dynamic padding "
    "pads little (ignored with static padding).",
)
flags.DEFINE_bool(
    "dynamic_padding",
    True,
    "Pad each batch only to its longest example (ignored on TPU, which needs "
    "fixed shapes).",
)
flags.DEFINE_integer(
    "pad_to_multiple_of",
    0,
    "With dynamic padding, round each batch's length up to a multiple of this. "
    "0: chosen per device (8 on GPUs and with --jit_compile, where fewer "
    "shapes pay; 1 on CPUs, where every padded token costs).",
)
flags.DEFINE_enum(
    "precision",
    "auto",
    ["auto", "float32", "mixed_bfloat16", "mixed_float16"],
    "Compute precision; probabilities and loss stay float32. auto: "
    "mixed_bfloat16 on TPUs, mixed_float16 on GPUs with tensor cores, float32 "
    "elsewhere (mixed_bfloat16 is faster on CPUs with AVX512_BF16 but cost "
    "accuracy on the demo).",
)

# === Devices, faults and reproducibility ===
flags.DEFINE_enum(
    "strategy",
    "auto",
    ["auto", "default", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy. auto: TPU with --use_tpu/--tpu_name, multi-worker "
    "when TF_CONFIG names several workers, mirrored on several GPUs, else default.",
)
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_integer(
    "gradient_accumulation_steps",
    1,
    "Average the gradients of this many smaller batches per update; "
    "--train_batch_size stays the batch of one update.",
)
flags.DEFINE_bool(
    "overwrite_output_dir",
    False,
    "Replace the checkpoints of a different run found in --output_dir.",
)
flags.DEFINE_bool(
    "deterministic",
    False,
    "Use deterministic TF ops: two runs with the same --seed give the same results.",
)
flags.DEFINE_integer(
    "eval_every_steps",
    0,
    "Evaluate on the dev set every N steps while training and keep the best "
    "checkpoint by the task's metric (0: only at the end).",
)
flags.DEFINE_bool(
    "eval_every_epoch", False, "Evaluate at the end of every epoch while training."
)
flags.DEFINE_integer(
    "early_stopping_patience",
    0,
    "Stop after this many evaluations without a better dev metric (0: never).",
)
flags.DEFINE_integer(
    "num_seeds",
    1,
    "Run this many seeds (--seed, --seed+1, ...) in OUTPUT_DIR/seed_N and write "
    "the mean, standard deviation and median of every metric.",
)

# === Tasks and outputs ===
flags.DEFINE_string(
    "xnli_language",
    "zh",
    "XNLI: the language to train and evaluate on (ar, bg, de, el, en, es, fr, "
    "hi, ru, sw, th, tr, ur, vi, zh), or `all` for every language, with "
    "accuracy per language.",
)
flags.DEFINE_string(
    "train_file",
    None,
    "--task_name=csv: training data, a path or glob (relative ones are under "
    "--data_dir). .tsv (no quoting, as GLUE), .csv (quoted fields may hold "
    "commas and line breaks) or .jsonl/.json (one object per line); CSV and TSV "
    "files start with a header line.",
)
flags.DEFINE_string("dev_file", None, "--task_name=csv: evaluation data (--do_eval).")
flags.DEFINE_string("test_file", None, "--task_name=csv: data to predict on.")
flags.DEFINE_string(
    "text_a_column",
    "text",
    "--task_name=csv: column of the text (name or 0-based index).",
)
flags.DEFINE_string(
    "text_b_column",
    None,
    "--task_name=csv: column of the second text of sentence pairs, if any.",
)
flags.DEFINE_string(
    "label_column",
    "label",
    "--task_name=csv: column of the label (optional in --test_file).",
)
flags.DEFINE_string(
    "id_column",
    None,
    "--task_name=csv: column of a row id to put in predictions.tsv "
    "(default: the row number).",
)
flags.DEFINE_string(
    "labels",
    None,
    "--task_name=csv: the labels, comma-separated, in class id order. Default: "
    "the training labels, sorted (numerically if all are numbers), saved as "
    "OUTPUT_DIR/labels.txt and reused when evaluating or predicting.",
)
flags.DEFINE_string(
    "glue_submission_dir",
    None,
    "With --do_predict: write the leaderboard files here (GLUE: CoLA.tsv, "
    "MNLI-m.tsv, ... with `index<TAB>prediction`; XNLI: xnli/test-LANG.tsv).",
)

FLAGS = flags.FLAGS


def config_from_flags():
    from app.config import RunConfig

    names = [field.name for field in dataclasses.fields(RunConfig)]
    return RunConfig(**{name: FLAGS[name].value for name in names if name in FLAGS})


def main(argv):
    del argv  # Everything comes from flags.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Imported here so that flag mistakes are reported before TensorFlow loads.
    from app.errors import UsageError
    from checkpoints import CheckpointError
    from tasks import DataError, UnknownTaskError

    try:
        from app.runner import run_all

        run_all(config_from_flags())
    except (UsageError, CheckpointError, DataError, UnknownTaskError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    absl_app.run(main)
