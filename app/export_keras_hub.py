"""The fine-tuned classifier as a keras-hub preset, with its preprocessor.

    import keras, keras_hub
    classifier = keras_hub.models.TextClassifier.from_preset(folder)
    logits = classifier.predict(["a fine film"])  # softmax: our probabilities

The preset's tokenizer is keras-hub's `BertTokenizer` with the run's
vocabulary, lowercasing and accent stripping as `--do_lower_case` sets them.
It gives the tokens ours gives on most text, but not all (PITFALLS 2):
keras-hub lowercases with NFKC case folding, which also rewrites full-width
punctuation as ASCII, `…` as `...` and `½` as `1⁄2`, where the original's
`str.lower()` keeps them; and an empty second text of a pair packs as
`[CLS] a [SEP] [SEP]` there, as a single sentence `[CLS] a [SEP]` here.
"""

import os

import keras
import keras_hub

from tasks import OutputKind

LABELS_NAME = "labels.txt"


def build_keras_hub_classifier(
    backbone: keras.Model,
    output_layer: keras.layers.Dense,
    vocabulary: list[str],
    do_lower_case: bool,
    max_seq_length: int,
    classifier_dropout: float = 0.1,
) -> keras_hub.models.BertTextClassifier:
    """keras-hub's BertTextClassifier holding our backbone and dense head.

    Its head is ours: pooled output, dropout, dense. It returns logits (its
    dense layer has no activation), keras-hub's convention; our output layer
    applies a softmax (multi-label: a sigmoid) to the same logits. A score
    task has one output and no activation in both.
    """
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=vocabulary,
        lowercase=do_lower_case,
        strip_accents=do_lower_case,  # the original strips accents iff it lowercases
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=max_seq_length, truncate="round_robin"
    )
    classifier = keras_hub.models.BertTextClassifier(
        backbone=backbone,
        num_classes=output_layer.units,
        preprocessor=preprocessor,
        dropout=classifier_dropout,
    )
    classifier.output_dense.set_weights(output_layer.get_weights())
    return classifier


def write_keras_hub(
    folder: str,
    backbone: keras.Model,
    output_layer: keras.layers.Dense,
    vocabulary: list[str],
    labels: list[str],
    output_kind: OutputKind,
    do_lower_case: bool,
    max_seq_length: int,
    classifier_dropout: float = 0.1,
) -> str:
    """Writes the preset (`save_to_preset`) and, for classes or labels, labels.txt.

    keras-hub keeps no label names; labels.txt lists them in class id order,
    one per line (the order of the logits).
    """
    classifier = build_keras_hub_classifier(
        backbone,
        output_layer,
        vocabulary,
        do_lower_case,
        max_seq_length,
        classifier_dropout,
    )
    classifier.save_to_preset(folder)
    if output_kind is not OutputKind.SCORE:
        with open(os.path.join(folder, LABELS_NAME), "w", encoding="utf-8") as file:
            file.write("".join(label + "\n" for label in labels))
    return folder
