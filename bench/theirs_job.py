"""The whole job with Hugging Face transformers + torch (CPU), as one process.

Run by `whole.py` with `.venv-bench`, from the repository root:
`.venv-bench/bin/python -m bench.theirs_job --model_dir=M --data_dir=D --output_dir=O`

What `main.py --do_train --do_eval --do_predict` does on an SST-2 folder:
fine-tune on train.tsv (AdamW as `run_glue.py` sets it up, linear warmup over
a tenth of the steps, the product's batch order, padding to each batch's
longest), evaluate dev.tsv, predict test.tsv, write eval_results.txt,
test_results.tsv and the model (`save_pretrained`).
"""

import argparse
import os

import numpy as np
import torch
import transformers

from bench import common
from bench.theirs import build_optimizer, load_model, tokenize, train_step


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", required=True, help="Hugging Face folder")
    parser.add_argument("--data_dir", required=True, help="train/dev/test.tsv")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--num_train_epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=12345)
    return parser


def train(model, tokenizer, args, sentences, labels) -> None:
    """One pass of `num_train_epochs` in the product's batch order."""
    num_steps = len(sentences) * args.num_train_epochs // args.batch_size
    optimizer, scheduler = build_optimizer(model, args, num_steps)
    order = common.training_indices(
        len(sentences), args.batch_size, num_steps, args.seed
    )
    labels = torch.tensor(labels)
    model.train()
    for index in order.reshape(num_steps, args.batch_size):
        inputs = tokenize(tokenizer, args, [sentences[i] for i in index])
        train_step(model, optimizer, scheduler, inputs, labels[torch.from_numpy(index)])


@torch.inference_mode()
def predict(model, tokenizer, args, sentences) -> np.ndarray:
    """Class probabilities, batches in file order."""
    model.eval()
    batches = [
        sentences[i : i + args.batch_size]
        for i in range(0, len(sentences), args.batch_size)
    ]
    return np.concatenate(
        [
            torch.softmax(model(**tokenize(tokenizer, args, batch)).logits, -1).numpy()
            for batch in batches
        ]
    )


def write_outputs(args, model, tokenizer, accuracy, test_probabilities) -> None:
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "eval_results.txt"), "w") as file:
        file.write(f"eval_accuracy = {accuracy}\n")
    with open(os.path.join(args.output_dir, "test_results.tsv"), "w") as file:
        file.writelines(
            "\t".join(str(p) for p in row) + "\n" for row in test_probabilities
        )
    model.save_pretrained(os.path.join(args.output_dir, "model"))
    tokenizer.save_pretrained(os.path.join(args.output_dir, "model"))


def main() -> None:
    args = build_parser().parse_args()
    args.padding = "dynamic"  # for bench.theirs.tokenize
    torch.manual_seed(args.seed)
    train_sentences, train_labels = common.read_examples(
        os.path.join(args.data_dir, "train.tsv")
    )
    dev_sentences, dev_labels = common.read_examples(
        os.path.join(args.data_dir, "dev.tsv")
    )
    test_sentences, _ = common.read_examples(os.path.join(args.data_dir, "test.tsv"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model_dir)
    model = load_model(args)
    train(model, tokenizer, args, train_sentences, train_labels)
    dev_predictions = predict(model, tokenizer, args, dev_sentences).argmax(-1)
    accuracy = float(np.mean(dev_predictions == np.array(dev_labels)))
    test_probabilities = predict(model, tokenizer, args, test_sentences)
    write_outputs(args, model, tokenizer, accuracy, test_probabilities)
    common.write_result({"eval_accuracy": accuracy})


if __name__ == "__main__":
    main()
