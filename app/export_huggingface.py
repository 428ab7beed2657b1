"""The fine-tuned classifier as a Hugging Face `BertForSequenceClassification` folder.

    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)

The folder is also a valid `--init_checkpoint` here (checkpoints/loader.py).
Written with safetensors' NumPy API: no PyTorch needed to write it.
"""

import json
import os

import keras
import numpy as np
from safetensors.numpy import save_file

from tasks import OutputKind

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
VOCAB_NAME = "vocab.txt"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
# keras-hub's BERT computes GELU with the tanh approximation, as the original
# BERT did; Hugging Face's "gelu" is the exact one, whose outputs differ by
# more than the 1e-4 the export is held to (PITFALLS 6). "gelu_new" is Hugging
# Face's name for the tanh approximation, known to every transformers version.
HIDDEN_ACT = "gelu_new"
# The score of a regression task (OutputKind.SCORE) has no label of its own.
SCORE_LABEL = "score"


def huggingface_state_dict(backbone: keras.Model) -> dict[str, np.ndarray]:
    """A keras-hub BertBackbone's weights under Hugging Face `BertModel` names.

    Hugging Face (PyTorch) dense kernels are `(out, in)`, Keras' `(in, out)`;
    keras-hub's attention kernels are `(hidden, heads, head_size)`, flattened
    here to `(hidden, hidden)` before transposing. The inverse of keras-hub's
    own reader (`keras_hub/src/utils/transformers/convert_bert.py`).
    """
    layer = backbone.get_layer
    weights = {
        "embeddings.word_embeddings.weight": layer("token_embedding").embeddings,
        "embeddings.position_embeddings.weight": (
            layer("position_embedding").position_embeddings
        ),
        "embeddings.token_type_embeddings.weight": (
            layer("segment_embedding").embeddings
        ),
        "embeddings.LayerNorm.weight": layer("embeddings_layer_norm").gamma,
        "embeddings.LayerNorm.bias": layer("embeddings_layer_norm").beta,
        "pooler.dense.weight": _transposed(layer("pooled_dense").kernel),
        "pooler.dense.bias": layer("pooled_dense").bias,
    }
    for i in range(backbone.num_layers):
        weights.update(_transformer_layer_weights(backbone, i))
    return {
        name: np.ascontiguousarray(np.asarray(value), dtype=np.float32)
        for name, value in weights.items()
    }


def _transformer_layer_weights(backbone: keras.Model, index: int) -> dict:
    hidden = backbone.hidden_dim
    block = backbone.get_layer(f"transformer_layer_{index}")
    attention = block._self_attention_layer
    prefix = f"encoder.layer.{index}."
    weights = {}
    for name, dense in (
        ("attention.self.query", attention.query_dense),
        ("attention.self.key", attention.key_dense),
        ("attention.self.value", attention.value_dense),
        ("attention.output.dense", attention.output_dense),
    ):
        kernel = np.reshape(np.asarray(dense.kernel), (hidden, hidden))
        weights[prefix + name + ".weight"] = kernel.T
        weights[prefix + name + ".bias"] = np.reshape(np.asarray(dense.bias), (-1,))
    for name, norm in (
        ("attention.output.LayerNorm", block._self_attention_layer_norm),
        ("output.LayerNorm", block._feedforward_layer_norm),
    ):
        weights[prefix + name + ".weight"] = norm.gamma
        weights[prefix + name + ".bias"] = norm.beta
    for name, dense in (
        ("intermediate.dense", block._feedforward_intermediate_dense),
        ("output.dense", block._feedforward_output_dense),
    ):
        weights[prefix + name + ".weight"] = _transposed(dense.kernel)
        weights[prefix + name + ".bias"] = dense.bias
    return weights


def _transposed(kernel) -> np.ndarray:
    return np.asarray(kernel).T


def classifier_state_dict(
    backbone: keras.Model, output_layer: keras.layers.Dense
) -> dict[str, np.ndarray]:
    """`BertForSequenceClassification` weights: `bert.*` and `classifier.*`."""
    weights = {
        f"bert.{name}": value
        for name, value in huggingface_state_dict(backbone).items()
    }
    kernel, bias = output_layer.get_weights()  # (hidden, outputs), (outputs,)
    weights["classifier.weight"] = np.ascontiguousarray(kernel.T, dtype=np.float32)
    weights["classifier.bias"] = np.ascontiguousarray(bias, dtype=np.float32)
    return weights


def build_config(
    backbone: keras.Model,
    vocabulary: list[str],
    labels: list[str],
    output_kind: OutputKind,
    classifier_dropout: float,
) -> dict:
    """config.json of a `BertForSequenceClassification` with the backbone's shape."""
    if output_kind is OutputKind.SCORE:
        labels, problem_type = [SCORE_LABEL], "regression"
    elif output_kind is OutputKind.LABELS:
        problem_type = "multi_label_classification"
    else:
        problem_type = "single_label_classification"
    return {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "hidden_act": HIDDEN_ACT,
        "layer_norm_eps": 1e-12,  # keras-hub's BertBackbone
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
        "classifier_dropout": classifier_dropout,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": vocabulary.index("[PAD]"),
        "problem_type": problem_type,
        "id2label": {str(i): label for i, label in enumerate(labels)},
        "label2id": {label: i for i, label in enumerate(labels)},
    }


def build_tokenizer_config(
    vocabulary: list[str], do_lower_case: bool, max_seq_length: int
) -> dict:
    """tokenizer_config.json: Hugging Face's BertTokenizer as the run tokenized.

    With `strip_accents` unset, Hugging Face strips accents exactly when it
    lowercases, as the original FullTokenizer does.
    """
    return {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": do_lower_case,
        "model_max_length": max_seq_length,
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]" if "[MASK]" in vocabulary else None,
    }


def write_huggingface(
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
    """Writes config.json, model.safetensors, vocab.txt, tokenizer_config.json.

    Args:
        folder: a new folder (made here).
        backbone: the fine-tuned keras-hub BertBackbone.
        output_layer: the Dense layer on the pooled output; its softmax (or,
            for a score, its value) is the model's output.
        labels: label names in class id order (ignored for a score).
    """
    os.makedirs(folder)
    config = build_config(backbone, vocabulary, labels, output_kind, classifier_dropout)
    _write_json(os.path.join(folder, CONFIG_NAME), config)
    save_file(
        classifier_state_dict(backbone, output_layer),
        os.path.join(folder, WEIGHTS_NAME),
        metadata={"format": "pt"},  # transformers reads "pt" files as its own
    )
    with open(os.path.join(folder, VOCAB_NAME), "w", encoding="utf-8") as file:
        file.write("".join(token + "\n" for token in vocabulary))
    _write_json(
        os.path.join(folder, TOKENIZER_CONFIG_NAME),
        build_tokenizer_config(vocabulary, do_lower_case, max_seq_length),
    )
    return folder


def _write_json(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(value, file, indent=2, ensure_ascii=False)
        file.write("\n")
