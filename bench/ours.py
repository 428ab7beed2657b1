"""One measurement of this project, through its own code and defaults.

Run by `run.py` with the product's venv, from the repository root:
`.venv/bin/python -m bench.ours --phase=train --model_dir=... --data_file=...`
"""

import time

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from app.inference import predict_outputs
from app.input_pipeline import (
    build_inference_dataset,
    build_train_dataset,
    pack_examples,
    training_order,
)
from app.preprocessing import ClassifierPreprocessor
from app.strategy import build_strategy, resolve_pad_to_multiple_of
from app.training import build_trainable_classifier
from bench import common
from checkpoints import load_backbone, read_pretrained
from tasks.dataset import build_dataset
from tasks.example import InputExample

# The runner's --precision values for the benchmark's precisions.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


class StepTimer(keras.callbacks.Callback):
    """Wall time at the end of every training step."""

    def __init__(self):
        super().__init__()
        self.step_ends = []

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # the step has finished
        self.step_ends.append(time.perf_counter())


def build_examples(sentences, labels, text_b=None) -> list[InputExample]:
    return [
        InputExample(
            guid=f"bench-{index}",
            text_a=sentence,
            text_b=None if text_b is None else text_b[index],
            label=common.LABELS[label],
        )
        for index, (sentence, label) in enumerate(zip(sentences, labels))
    ]


def build_preprocessor(pretrained, args) -> ClassifierPreprocessor:
    """As the runner builds it: `dynamic` is its default, `static` pads to 128."""
    static = args.padding == "static"
    return ClassifierPreprocessor(
        pretrained.vocabulary,
        sequence_length=args.max_seq_length,
        do_lower_case=True if pretrained.lowercase is None else pretrained.lowercase,
        trim_to_longest=not static,
        pad_to_multiple_of=resolve_pad_to_multiple_of(0, static, jit_compile=False),
    )


def build_model(pretrained, args, num_steps: int, trains: bool) -> keras.Model:
    """As the runner builds it; a run that does not train has no Adam slots."""
    with build_strategy().scope():
        return build_trainable_classifier(
            lambda: load_backbone(pretrained),
            num_labels=len(common.LABELS),
            learning_rate=args.learning_rate,
            num_train_steps=num_steps,
            num_warmup_steps=int(0.1 * num_steps),
            builds_optimizer_state=trains,
        )


def measure_tokenize(args, preprocessor, sentences, labels) -> dict:
    """Examples/s through the inference pipeline, single sentences and pairs."""
    sentences = sentences[: args.tokenize_examples]
    labels = labels[: args.tokenize_examples]
    text_a, text_b = common.sentence_pairs(sentences)
    rates = {}
    for name, examples, is_pair in (
        ("tokenize_examples_per_second", build_examples(text_a, labels), False),
        ("tokenize_pairs_per_second", build_examples(text_a, labels, text_b), True),
    ):
        features = build_dataset(examples, common.LABELS, is_pair, with_labels=False)
        warmup = pack_examples(features.take(args.batch_size), preprocessor)
        for _ in build_inference_dataset(warmup, preprocessor, args.batch_size):
            pass
        start = time.perf_counter()
        packed = pack_examples(features, preprocessor)
        for _ in build_inference_dataset(packed, preprocessor, args.batch_size):
            pass
        rates[name] = len(examples) / (time.perf_counter() - start)
    return rates


def measure_predict(args, pretrained, preprocessor, sentences, labels) -> dict:
    """Examples/s of prediction after one warmup batch.

    Through the runner's `predict_outputs`, packing included in the time;
    "bucketed" runs shortest first and puts outputs back in input order, as
    the runner does; the others predict the batches in file order.
    """
    model = build_model(pretrained, args, num_steps=1, trains=False)
    loaded = common.current_rss_mib()
    examples = build_examples(sentences, labels)[: args.predict_examples]
    features = build_dataset(examples, common.LABELS, False, with_labels=False)

    def predict(dataset):
        predict_outputs(
            model,
            pack_examples(dataset, preprocessor),  # the runner packs each split once
            preprocessor,
            args.batch_size,
            sort_by_length=args.padding == "bucketed",  # the runner's way
        )

    predict(features.take(args.batch_size))
    start = time.perf_counter()
    predict(features)
    seconds = time.perf_counter() - start
    return {
        "predict_examples_per_second": len(examples) / seconds,
        "loaded_rss_mib": loaded,
    }


def measure_train(args, pretrained, preprocessor, sentences, labels) -> dict:
    """Steady-state examples/s of `model.fit` over `train_steps` after warmup."""
    num_steps = args.warmup_steps + args.train_steps
    check_training_order(len(sentences), args.batch_size, num_steps, args.seed)
    model = build_model(pretrained, args, num_steps, trains=True)
    loaded = common.current_rss_mib()
    examples = build_dataset(
        build_examples(sentences, labels), common.LABELS, is_pair=False
    )
    dataset = build_train_dataset(
        pack_examples(examples, preprocessor),
        preprocessor,
        args.batch_size,
        num_steps,
        args.seed,
        bucket_by_length=args.padding == "bucketed",
    )
    timer = StepTimer()
    model.fit(dataset, steps_per_epoch=num_steps, callbacks=[timer], verbose=0)
    seconds = timer.step_ends[-1] - timer.step_ends[args.warmup_steps - 1]
    return {
        "train_examples_per_second": args.train_steps * args.batch_size / seconds,
        "loaded_rss_mib": loaded,
    }


def check_training_order(num_examples, batch_size, num_steps, seed) -> None:
    """Unbucketed, both sides must train on the same batches."""
    expected = common.training_indices(num_examples, batch_size, num_steps, seed)
    actual = training_order(num_examples, batch_size, num_steps, seed)
    if not np.array_equal(expected, actual):
        raise SystemExit(
            "bench/common.py training_indices no longer matches "
            "app.input_pipeline.training_order: the two sides would train on "
            "different batches. Update training_indices."
        )


def main() -> None:
    args = common.build_worker_parser(__doc__).parse_args()
    keras.utils.set_random_seed(args.seed)
    keras.mixed_precision.set_global_policy(POLICIES[args.precision])
    sentences, labels = common.read_examples(args.data_file)
    pretrained = read_pretrained(args.model_dir)
    preprocessor = build_preprocessor(pretrained, args)
    if args.phase == "tokenize":
        result = measure_tokenize(args, preprocessor, sentences, labels)
    elif args.phase == "predict":
        result = measure_predict(args, pretrained, preprocessor, sentences, labels)
    else:
        result = measure_train(args, pretrained, preprocessor, sentences, labels)
    versions = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
    }
    common.write_result({**result, "versions": versions})


if __name__ == "__main__":
    main()
