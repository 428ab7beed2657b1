"""Class probabilities of a TSV's sentences with ONNX Runtime, as one process.

Run by `whole.py` with `.venv-bench`, from the repository root:
`python -m bench.onnx_predict --onnx_dir=D --data_file=F --output_file=P`,
where D is what `onnx_export.py` wrote.

As a user who wants speed would run it: the fast tokenizer (`tokenizers`,
without transformers or torch), batches sorted by length and padded to their
longest, ONNX Runtime's CPU provider with all graph optimizations on
`--threads` threads. Writes test_results.tsv's format: one line of class
probabilities per sentence, in input order.
"""

import argparse
import os

import numpy as np
import onnxruntime
import tokenizers

from bench import common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onnx_dir", required=True, help="from onnx_export.py")
    parser.add_argument("--data_file", required=True, help="TSV, `sentence` column")
    parser.add_argument("--output_file", required=True)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    return parser


def build_session(args) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(
        os.path.join(args.onnx_dir, "model.onnx"),
        options,
        providers=["CPUExecutionProvider"],
    )


def pad(encodings: list) -> dict:
    """One batch as int64 arrays, padded with 0 to its longest."""
    length = max(len(encoding.ids) for encoding in encodings)
    arrays = {
        name: np.zeros((len(encodings), length), np.int64)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    for row, encoding in enumerate(encodings):
        size = len(encoding.ids)
        arrays["input_ids"][row, :size] = encoding.ids
        arrays["attention_mask"][row, :size] = 1
        arrays["token_type_ids"][row, :size] = encoding.type_ids
    return arrays


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def predict(session, encodings: list, batch_size: int) -> np.ndarray:
    """Probabilities in input order, computed shortest batch first."""
    order = np.argsort([len(encoding.ids) for encoding in encodings], kind="stable")
    probabilities = None
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        (logits,) = session.run(["logits"], pad([encodings[i] for i in indices]))
        if probabilities is None:
            probabilities = np.zeros((len(encodings), logits.shape[-1]), np.float32)
        probabilities[indices] = softmax(logits.astype(np.float32))
    return probabilities


def main() -> None:
    args = build_parser().parse_args()
    tokenizer = tokenizers.Tokenizer.from_file(
        os.path.join(args.onnx_dir, "tokenizer.json")
    )
    tokenizer.enable_truncation(args.max_seq_length)
    tokenizer.no_padding()
    session = build_session(args)
    sentences, _ = common.read_examples(args.data_file)
    probabilities = predict(session, tokenizer.encode_batch(sentences), args.batch_size)
    with open(args.output_file, "w", encoding="utf-8") as file:
        file.writelines("\t".join(str(p) for p in row) + "\n" for row in probabilities)
    common.write_result({"examples": len(sentences)})


if __name__ == "__main__":
    main()
