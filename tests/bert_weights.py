"""Test helpers: tiny BERT checkpoints written in the formats users bring."""

import json
import os

import keras_hub
import numpy as np
from safetensors.numpy import save_file

# The product's mapping, which the Hugging Face export writes with: one mapping.
from app.export_huggingface import huggingface_state_dict

TINY_VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "a", "dog", "cat", "is", "was", "hairy", "happy", "sad", "not",
    "good", "bad", "film", "movie", "\"", "'", ".", ",", "?", "!", "it",
    "jack", "##son", "##ville", "no", "this", "said", "he", "very",
]  # fmt: skip


def build_tiny_backbone(vocabulary_size=len(TINY_VOCABULARY), seed=0):
    """A 2-layer BERT with random weights: hidden 8, 2 heads, 64 positions."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=64,
    )


def build_tiny_classifier(num_labels, output_kind, **options):
    """The compiled classifier on `build_tiny_backbone`, for one step at 1e-3."""
    from app.training import build_trainable_classifier

    return build_trainable_classifier(
        build_tiny_backbone,
        num_labels=num_labels,
        learning_rate=1e-3,
        num_train_steps=1,
        num_warmup_steps=0,
        output_kind=output_kind,
        **options,
    )


def write_huggingface_folder(backbone, vocabulary, folder, do_lower_case=True):
    """Writes config.json, vocab.txt, tokenizer_config.json, model.safetensors."""
    os.makedirs(folder, exist_ok=True)
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
    }
    with open(os.path.join(folder, "config.json"), "w") as file:
        json.dump(config, file)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as file:
        json.dump(
            {"do_lower_case": do_lower_case, "tokenizer_class": "BertTokenizer"}, file
        )
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as file:
        file.write("".join(token + "\n" for token in vocabulary))
    save_file(
        huggingface_state_dict(backbone), os.path.join(folder, "model.safetensors")
    )
    return folder


# === Original Google BERT checkpoints ===

TINY_BERT_CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 8,
    "initializer_range": 0.02,
    "intermediate_size": 16,
    "max_position_embeddings": 64,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "type_vocab_size": 2,
    "vocab_size": len(TINY_VOCABULARY),
}


def original_weight_shapes(config: dict) -> dict:
    """Every variable of the original `modeling.BertModel`, plus `cls/` heads."""
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    shapes = {
        "bert/embeddings/word_embeddings": (v, h),
        "bert/embeddings/token_type_embeddings": (config["type_vocab_size"], h),
        "bert/embeddings/position_embeddings": (config["max_position_embeddings"], h),
        "bert/embeddings/LayerNorm/gamma": (h,),
        "bert/embeddings/LayerNorm/beta": (h,),
        "bert/pooler/dense/kernel": (h, h),
        "bert/pooler/dense/bias": (h,),
        # The pre-training heads, which fine-tuning does not use.
        "cls/predictions/transform/dense/kernel": (h, h),
        "cls/predictions/transform/dense/bias": (h,),
        "cls/predictions/transform/LayerNorm/gamma": (h,),
        "cls/predictions/transform/LayerNorm/beta": (h,),
        "cls/predictions/output_bias": (v,),
        "cls/seq_relationship/output_weights": (2, h),
        "cls/seq_relationship/output_bias": (2,),
    }
    for n in range(config["num_hidden_layers"]):
        layer = f"bert/encoder/layer_{n}/"
        for name in ("query", "key", "value"):
            shapes[f"{layer}attention/self/{name}/kernel"] = (h, h)
            shapes[f"{layer}attention/self/{name}/bias"] = (h,)
        shapes[f"{layer}attention/output/dense/kernel"] = (h, h)
        shapes[f"{layer}attention/output/dense/bias"] = (h,)
        shapes[f"{layer}intermediate/dense/kernel"] = (h, i)
        shapes[f"{layer}intermediate/dense/bias"] = (i,)
        shapes[f"{layer}output/dense/kernel"] = (i, h)
        shapes[f"{layer}output/dense/bias"] = (h,)
        for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
            shapes[f"{layer}{norm}/gamma"] = (h,)
            shapes[f"{layer}{norm}/beta"] = (h,)
    return shapes


def random_original_weights(config: dict = TINY_BERT_CONFIG, seed: int = 0) -> dict:
    """Known random float32 weights under the original variable names."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in original_weight_shapes(config).items():
        if name.endswith("gamma"):
            value = 1.0 + 0.2 * rng.standard_normal(shape)
        else:  # Large enough that attention is far from uniform.
            value = 0.5 * rng.standard_normal(shape)
        weights[name] = value.astype(np.float32)
    return weights


def write_original_checkpoint(
    folder, weights: dict, config: dict = TINY_BERT_CONFIG, vocabulary=None
) -> str:
    """bert_model.ckpt.{index,data-*}, bert_config.json and vocab.txt.

    Written with TensorFlow's SaveV2 op: the V2 checkpoint format and
    variable names of the original release, without a TF1 graph.
    """
    import tensorflow as tf

    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(str(folder), "bert_model.ckpt")
    names = sorted(weights)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(weights[name]) for name in names],
    )
    with open(os.path.join(folder, "bert_config.json"), "w") as file:
        json.dump(config, file, indent=2)
    vocabulary = TINY_VOCABULARY if vocabulary is None else vocabulary
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as file:
        file.write("".join(token + "\n" for token in vocabulary))
    return prefix


def huggingface_state_dict_from_original(weights: dict) -> dict:
    """Original names and `(in, out)` kernels -> Hugging Face names, `(out, in)`."""
    state = {}
    for name, value in weights.items():
        if not name.startswith("bert/"):
            continue
        key = name[len("bert/") :].replace("/", ".")
        key = key.replace("encoder.layer_", "encoder.layer.")
        if key.endswith(".kernel"):
            key, value = key[: -len("kernel")] + "weight", value.T
        elif key.endswith(".gamma"):
            key = key[: -len("gamma")] + "weight"
        elif key.endswith(".beta"):
            key = key[: -len("beta")] + "bias"
        elif key.endswith("_embeddings"):
            key += ".weight"
        state[key] = np.ascontiguousarray(value)
    return state


def write_huggingface_folder_from_original(folder, weights, config, vocabulary):
    """The same weights as a Hugging Face folder (config.json, safetensors)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as file:
        json.dump(dict(config, model_type="bert", layer_norm_eps=1e-12), file)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as file:
        file.write("".join(token + "\n" for token in vocabulary))
    save_file(
        huggingface_state_dict_from_original(weights),
        os.path.join(folder, "model.safetensors"),
    )
    return str(folder)
