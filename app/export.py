"""A SavedModel that takes raw strings, token ids or tf.Examples.

EXPORT_DIR holds three signatures with the same outputs: `{"probabilities":
float32 (batch, num_labels), "label": string (batch,)}`, the label being the
name of the most probable class (multi-label: the names of the labels whose
sigmoid probability reaches the run's threshold, joined by its label
delimiter, both in the metadata); a score task (STS-B) gives `{"score":
float32 (batch, 1)}` only.

- `serving_default(text_a[, text_b])`: string (batch,) texts.
- `serve_token_ids(token_ids, segment_ids, padding_mask)`: int32 (batch,
  length) packed inputs, as `python -m app.tokenize --format=json` prints them.
  One row is one packed sequence: with `--long_text=chunks`, one window, and
  the caller pools a document's windows (the text signatures pool in-graph).
- `serve_examples(examples)`: serialized `tf.Example`s with bytes features
  `text_a` [and `text_b`], as Model Garden's exports take them.

Loading EXPORT_DIR needs `import tensorflow_text`, even to call
`serve_token_ids`: TensorFlow refuses the whole SavedModel when an op of any
of its functions is not registered (`Op type not registered 'NormalizeUTF8'`).
So EXPORT_DIR/token_ids/ is a second SavedModel without the tokenizer, for a
server whose TensorFlow has no TensorFlow Text ops (TF Serving builds lag
it): its `serve_token_ids`, also its `serving_default`, is the same graph,
and its variables files are EXPORT_DIR's (hard links where the file system
allows).

The text signatures cut long texts as the run did (`--long_text`, in the
preprocessing layer): `head_tail` keeps the same tokens, and `chunks` scores
every window and pools each text's windows (`--chunk_pooling`) into one row
per input, in order, as the runner's results.

EXPORT_DIR's object also has `count_tokens({"text_a": ...[, "text_b": ...]})`,
not a signature: `{"length": int32 (batch,)}`, each input's packed length
in tokens (with `--long_text=chunks`, its longest window). `app.predict`
orders texts by it, so each batch pads little.

Both carry `assets/labels.txt` (one label a line, in class id order; absent
for a score) and `assets/export_metadata.json` (`export_metadata`).

    import tensorflow as tf, tensorflow_text
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    serve(text_a=tf.constant(["a fine film"]))["label"]
"""

import hashlib
import json
import os

import keras
import tensorflow as tf
from tensorflow.python.saved_model.save import save_and_return_nodes

from app import phase_times
from app.cpu_speedups import compute_last_layer_for_first_token
from app.long_text import CHUNKS, MEAN, pool_documents_in_graph
from app.model import build_plain_copy
from app.preprocessing import packed_lengths
from tasks import OutputKind, format_label_file

TEXT_SIGNATURES = ("serving_default", "serve_examples")
TOKEN_ID_SIGNATURE = "serve_token_ids"
COUNT_FUNCTION = "count_tokens"
# The text-free SavedModel inside EXPORT_DIR.
TOKEN_IDS_DIR = "token_ids"
LABELS_FILE = "labels.txt"
METADATA_FILE = "export_metadata.json"
TOKEN_ID_NAMES = ("token_ids", "segment_ids", "padding_mask")


@phase_times.timed("export")
def export_saved_model(
    model: keras.Model,
    preprocessor,
    export_dir: str,
    is_pair: bool,
    labels: list[str],
    output_kind: OutputKind,
    threshold: float | None = None,
    label_delimiter: str = "|",
    chunk_pooling: str = MEAN,
) -> str:
    """Writes EXPORT_DIR (every signature) and EXPORT_DIR/token_ids/.

    Args:
        model: the trained classifier (any precision, CPU speed changes or
            not); the graph is that of `serving_model(model)`.
        preprocessor: the run's `ClassifierPreprocessor`; its vocabulary,
            case setting and sequence length are the export's.
        is_pair: the task has `text_b`.
        labels: the label names in class id order (empty for a score).
        output_kind: the task's `OutputKind`.
        threshold: `OutputKind.LABELS`: a label is predicted when its
            probability reaches it.
        label_delimiter: `OutputKind.LABELS`: joins the predicted labels.
        chunk_pooling: how the text signatures pool a text's windows, with
            a preprocessor that packs windows (`--long_text=chunks`).
    """
    width = model.output_shape[-1]
    if output_kind is not OutputKind.SCORE and len(labels) != width:
        raise ValueError(
            f"The model has {width} outputs, but {len(labels)} labels were given"
            f" to name them. Received: labels={list(labels)}"
        )
    decision = None
    if output_kind is OutputKind.LABELS:
        decision = {"threshold": threshold, "label_delimiter": label_delimiter}
    outputs = ServingOutputs(
        serving_model(model), labels, output_kind, decision, chunk_pooling
    )
    text_names = ["text_a", "text_b"] if is_pair else ["text_a"]
    metadata = export_metadata(
        preprocessor, labels, output_kind, is_pair, chunk_pooling
    )
    metadata.update(decision or {})

    # Both text signatures call one function: the tokenizer is traced once.
    texts_outputs = tf.function(
        lambda texts: outputs(preprocessor(texts)),
        input_signature=[{name: string_spec(name) for name in text_names}],
        autograph=False,
    )
    text_specs = [string_spec(name) for name in text_names]
    signatures = {
        "serving_default": tf.function(
            lambda *texts: texts_outputs(dict(zip(text_names, texts))),
            input_signature=text_specs,
            autograph=False,
        ),
        TOKEN_ID_SIGNATURE: outputs.serve_token_ids,
        "serve_examples": tf.function(
            lambda examples: texts_outputs(parse_examples(examples, text_names)),
            input_signature=[string_spec("examples")],
            autograph=False,
        ),
    }
    count_tokens = tf.function(
        lambda texts: {
            "length": packed_lengths(preprocessor(texts), tf.size(texts["text_a"]))
        },
        input_signature=[{name: string_spec(name) for name in text_names}],
        autograph=False,
    )
    write_saved_model(
        export_dir,
        signatures,
        outputs.model,
        metadata,
        labels,
        functions={COUNT_FUNCTION: count_tokens},
    )
    write_token_id_model(outputs, export_dir, metadata, labels)
    return export_dir


def write_token_id_model(outputs, export_dir: str, metadata: dict, labels) -> None:
    """EXPORT_DIR/token_ids/: `serve_token_ids`, also as `serving_default`."""
    signatures = {
        "serving_default": outputs.serve_token_ids,
        TOKEN_ID_SIGNATURE: outputs.serve_token_ids,
    }
    metadata = dict(metadata, signatures=list(signatures))
    write_saved_model(
        os.path.join(export_dir, TOKEN_IDS_DIR),
        signatures,
        outputs.model,
        metadata,
        labels,
        variables_of=export_dir,
    )


class ServingOutputs(tf.Module):
    """The signatures' outputs for `model`, from packed inputs.

    `serve_token_ids` is one traced graph of the model, which the text
    signatures call after tokenizing: the model is traced once per export.
    Packed windows (a `document_ids` input) are pooled per document.
    """

    def __init__(
        self,
        model: keras.Model,
        labels,
        output_kind: OutputKind,
        decision: dict | None = None,
        chunk_pooling: str = MEAN,
    ):
        super().__init__()
        self.model = model
        self.labels = list(labels)
        self.output_kind = output_kind
        self.decision = decision  # multi-label: threshold and label_delimiter
        self.chunk_pooling = chunk_pooling
        self.serve_token_ids = tf.function(
            self._outputs, input_signature=token_id_specs(), autograph=False
        )

    def __call__(self, inputs: dict) -> dict:
        """Outputs for the preprocessor's packed inputs (a bool padding_mask)."""
        outputs = self.serve_token_ids(
            **{name: tf.cast(inputs[name], tf.int32) for name in TOKEN_ID_NAMES}
        )
        if "document_ids" not in inputs:
            return outputs
        name = "score" if self.output_kind is OutputKind.SCORE else "probabilities"
        pooled = pool_documents_in_graph(
            outputs[name], inputs["document_ids"], self.chunk_pooling, self.output_kind
        )
        return self._named(pooled)

    def _outputs(self, token_ids, segment_ids, padding_mask) -> dict:
        inputs = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": padding_mask,
        }
        return self._named(tf.cast(self.model(inputs, training=False), tf.float32))

    def _named(self, values: tf.Tensor) -> dict:
        """The signature's outputs for (batch, outputs) float32 `values`."""
        if self.output_kind is OutputKind.SCORE:
            return {"score": values}  # (batch, 1)
        if self.output_kind is OutputKind.LABELS:
            return {"probabilities": values, "label": self._label_names(values)}
        label_ids = tf.argmax(values, axis=-1)  # (batch,)
        return {
            "probabilities": values,  # (batch, num_labels)
            "label": tf.gather(tf.constant(self.labels), label_ids),
        }

    def _label_names(self, probabilities) -> tf.Tensor:
        """string (batch,): the labels reaching the threshold, joined."""
        chosen = probabilities >= self.decision["threshold"]
        names = tf.broadcast_to(tf.constant(self.labels), tf.shape(chosen))
        return tf.strings.reduce_join(
            tf.ragged.boolean_mask(names, chosen),
            axis=-1,
            separator=self.decision["label_delimiter"],
        )


def token_id_specs() -> list[tf.TensorSpec]:
    """int32 (batch, length) inputs, any length up to max_seq_length."""
    return [tf.TensorSpec((None, None), tf.int32, name) for name in TOKEN_ID_NAMES]


def string_spec(name: str) -> tf.TensorSpec:
    return tf.TensorSpec(shape=(None,), dtype=tf.string, name=name)


def parse_examples(examples: tf.Tensor, text_names: list[str]) -> dict:
    """Serialized tf.Examples -> {name: string (batch,)}; each feature required."""
    features = {name: tf.io.FixedLenFeature([], tf.string) for name in text_names}
    return tf.io.parse_example(examples, features)


def write_saved_model(
    export_dir: str,
    signatures: dict,
    model: keras.Model,
    metadata: dict,
    labels,
    functions: dict | None = None,
    variables_of: str | None = None,
) -> None:
    """Writes a SavedModel of `signatures` (name -> tf.function with an input
    signature) on `model`'s weights, and its two assets. `functions` are
    kept as attributes of the loaded object only (no signature to serve).
    `variables_of`: a SavedModel this function wrote on the same weights,
    whose variables files are shared (`share_files`) instead of written
    again: both name each weight `model_variables/<i>`, and loading ignores
    the other one's extra functions in the files' object graph.

    Each function is traced once (`traced`). Keras' ExportArchive
    traces each twice (once to list the variables it reads, once in the
    save) and walks tracked layers for lookup tables (the tokenizer has
    none: its vocabulary is a constant of the graph). A function reading a
    resource that `root` does not hold makes the save fail, loudly.
    """
    # Traced here, out of the save: `tf.saved_model.save` traces a tf.function
    # again in its own context, and every tf.function it calls with it (the
    # tokenizer's graph, which the run traced already to pack its data).
    signatures = {name: traced(f) for name, f in signatures.items()}
    functions = {name: traced(f) for name, f in (functions or {}).items()}
    root = tf.Module()
    root.model_variables = [variable.value for variable in model.weights]
    for name, function in {**signatures, **functions}.items():
        setattr(root, name, function)
    if variables_of:
        # Before the save: its fingerprint hashes the variables files.
        share_files(
            os.path.join(variables_of, "variables"),
            os.path.join(export_dir, "variables"),
        )
    # `tf.saved_model.save`, with its option to write no variables (app.compat).
    save_and_return_nodes(
        root,
        export_dir,
        signatures=signatures,
        experimental_skip_checkpoint=bool(variables_of),
    )
    assets_dir = os.path.join(export_dir, "assets")
    os.makedirs(assets_dir, exist_ok=True)
    if labels:
        with open(os.path.join(assets_dir, LABELS_FILE), "w", encoding="utf-8") as file:
            file.write(format_label_file(labels))
    with open(os.path.join(assets_dir, METADATA_FILE), "w", encoding="utf-8") as file:
        json.dump(metadata, file, indent=2, ensure_ascii=False)
        file.write("\n")


def share_files(source_dir: str, target_dir: str) -> None:
    """`source_dir`'s files in `target_dir`: hard links, which cost no time
    or space (the files are never written again), or copies where the file
    system has none (other devices, cloud storage)."""
    tf.io.gfile.makedirs(target_dir)
    for name in tf.io.gfile.listdir(source_dir):
        source = os.path.join(source_dir, name)
        target = os.path.join(target_dir, name)
        try:
            os.link(source, target)
        except OSError:
            tf.io.gfile.copy(source, target, overwrite=True)


def traced(function):
    """The concrete function of a tf.function with an input signature."""
    if isinstance(function, tf.types.experimental.ConcreteFunction):
        return function
    return function.get_concrete_function()


def export_metadata(
    preprocessor, labels, output_kind: OutputKind, is_pair, chunk_pooling=MEAN
) -> dict:
    """What a client needs to call the export and read its outputs.

    `long_text` is how the text signatures cut long texts; with `chunks`,
    `doc_stride` and `chunk_pooling` say how they window and pool.

    `vocabulary_sha256` is the SHA-256 of the vocabulary written as a
    `vocab.txt` (one token a line, UTF-8): a client tokenizing for
    `serve_token_ids` checks its vocabulary against it.
    """
    metadata = {
        "labels": list(labels),
        "output_kind": output_kind.value,
        "is_pair": bool(is_pair),
        "do_lower_case": bool(preprocessor.do_lower_case),
        "max_seq_length": int(preprocessor.sequence_length),
        "long_text": preprocessor.long_text,
        "vocabulary_sha256": vocabulary_sha256(preprocessor.vocabulary),
        "signatures": ["serving_default", TOKEN_ID_SIGNATURE, "serve_examples"],
    }
    if preprocessor.long_text == CHUNKS:
        metadata.update(
            doc_stride=int(preprocessor.doc_stride), chunk_pooling=chunk_pooling
        )
    return metadata


def vocabulary_sha256(vocabulary: list[str]) -> str:
    text = "".join(f"{token}\n" for token in vocabulary)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def serving_model(model: keras.Model) -> keras.Model:
    """The classifier in float32 with `model`'s weights, for export.

    The plain model with one speed change, the `[CLS]`-only last layer: it
    only skips work whose result the classifier never reads, on any device,
    with the same outputs. The other CPU speed changes stay out: a
    SavedModel may serve on a GPU, where they do not pay (cuDNN refuses
    BERT's epsilon in a fused layer norm). Float32 whatever precision
    trained the model: a bfloat16 or float16 graph runs slowly, if at all,
    on the CPUs that serve it.
    """
    copy = build_plain_copy(model, "float32")
    compute_last_layer_for_first_token(copy)
    return copy
