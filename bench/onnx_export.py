"""A Hugging Face classifier folder as model.onnx and tokenizer.json, untimed.

Run by `whole.py` with `.venv-bench`, from the repository root:
`.venv-bench/bin/python -m bench.onnx_export --model_dir=M --output_dir=D`

torch's exporter (TorchScript-based, opset 17), batch and sequence length
dynamic; the fast tokenizer saved as one tokenizer.json for `tokenizers`.
"""

import argparse
import os

import torch
import transformers

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    # Eager attention: its masks trace into the graph as arithmetic.
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        args.model_dir, attn_implementation="eager"
    ).eval()
    model.config.return_dict = False  # a tuple out: (logits,)
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model_dir)
    tokenizer.backend_tokenizer.save(os.path.join(args.output_dir, "tokenizer.json"))
    example = tokenizer(["a fine film", "a film"], padding=True, return_tensors="pt")
    dynamic = {0: "batch", 1: "sequence"}
    with torch.inference_mode():
        torch.onnx.export(
            model,
            tuple(example[name] for name in INPUT_NAMES),
            os.path.join(args.output_dir, "model.onnx"),
            input_names=list(INPUT_NAMES),
            output_names=["logits"],
            dynamic_axes={name: dynamic for name in (*INPUT_NAMES, "logits")},
            opset_version=17,
            dynamo=False,
        )


if __name__ == "__main__":
    main()
