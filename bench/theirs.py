"""One measurement of Hugging Face transformers + torch (CPU), as users run it.

Run by `run.py` with `.venv-bench`, from the repository root:
`.venv-bench/bin/python -m bench.theirs --phase=train --model_dir=... --data_file=...`

Dynamic padding is `padding="longest"` (what `DataCollatorWithPadding` does),
static is `padding="max_length"`; bfloat16 is `torch.autocast`. Each batch
is tokenized inside the timed loop, as our pipeline tokenizes inside its own.
"""

import contextlib
import time

import numpy as np
import torch
import transformers

from bench import common

PADDING = {"dynamic": "longest", "static": "max_length"}


def tokenize(tokenizer, args, text_a, text_b=None):
    return tokenizer(
        text_a,
        text_b,
        padding=PADDING[args.padding],
        truncation=True,
        max_length=args.max_seq_length,
        return_tensors="pt",
    )


def autocast(args):
    if args.precision == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def load_model(args):
    return transformers.AutoModelForSequenceClassification.from_pretrained(
        args.model_dir, num_labels=len(common.LABELS)
    )


def build_optimizer(model, args, num_steps: int):
    """AdamW as `run_glue.py` sets it up: no decay on biases and LayerNorm."""
    decayed, not_decayed = [], []
    for name, parameter in model.named_parameters():
        skip = name.endswith("bias") or "LayerNorm" in name
        (not_decayed if skip else decayed).append(parameter)
    optimizer = torch.optim.AdamW(
        [
            {"params": decayed, "weight_decay": 0.01},
            {"params": not_decayed, "weight_decay": 0.0},
        ],
        lr=args.learning_rate,
        eps=1e-6,
    )
    scheduler = transformers.get_linear_schedule_with_warmup(
        optimizer, int(0.1 * num_steps), num_steps
    )
    return optimizer, scheduler


def measure_tokenize(args, tokenizer, sentences) -> dict:
    """Examples/s of the fast tokenizer in batches, single sentences and pairs."""
    text_a, text_b = common.sentence_pairs(sentences[: args.tokenize_examples])
    rates = {}
    for name, pair in (
        ("tokenize_examples_per_second", False),
        ("tokenize_pairs_per_second", True),
    ):
        batches = [
            (text_a[i : i + args.batch_size], text_b[i : i + args.batch_size])
            for i in range(0, len(text_a), args.batch_size)
        ]
        tokenize(tokenizer, args, *batches[0])  # warmup
        start = time.perf_counter()
        for a, b in batches:
            tokenize(tokenizer, args, a, b if pair else None)
        rates[name] = len(text_a) / (time.perf_counter() - start)
    return rates


@torch.inference_mode()
def measure_predict(args, tokenizer, sentences) -> dict:
    """Examples/s of tokenize + forward + softmax after one warmup batch."""
    model = load_model(args).eval()
    loaded = common.current_rss_mib()
    sentences = sentences[: args.predict_examples]
    batches = [
        sentences[i : i + args.batch_size]
        for i in range(0, len(sentences), args.batch_size)
    ]

    def predict(batch):
        with autocast(args):
            logits = model(**tokenize(tokenizer, args, batch)).logits
        return torch.softmax(logits.float(), -1).numpy()

    predict(batches[0])
    start = time.perf_counter()
    np.concatenate([predict(batch) for batch in batches])
    seconds = time.perf_counter() - start
    return {
        "predict_examples_per_second": len(sentences) / seconds,
        "loaded_rss_mib": loaded,
    }


def train_step(model, optimizer, scheduler, inputs, labels) -> None:
    """Forward, backward, clipping to global norm 1.0, AdamW and the schedule."""
    model(**inputs, labels=labels).loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def measure_train(args, tokenizer, sentences, labels) -> dict:
    """Steady-state examples/s of a plain training loop after warmup steps."""
    num_steps = args.warmup_steps + args.train_steps
    model = load_model(args).train()
    optimizer, scheduler = build_optimizer(model, args, num_steps)
    loaded = common.current_rss_mib()  # AdamW's state comes at the first step
    order = common.training_indices(
        len(sentences), args.batch_size, num_steps, args.seed
    )
    labels = torch.tensor(labels)
    for step, index in enumerate(order.reshape(num_steps, args.batch_size)):
        if step == args.warmup_steps:
            start = time.perf_counter()
        inputs = tokenize(tokenizer, args, [sentences[i] for i in index])
        with autocast(args):
            train_step(
                model, optimizer, scheduler, inputs, labels[torch.from_numpy(index)]
            )
    seconds = time.perf_counter() - start
    return {
        "train_examples_per_second": args.train_steps * args.batch_size / seconds,
        "loaded_rss_mib": loaded,
    }


def main() -> None:
    args = common.build_worker_parser(__doc__).parse_args()
    torch.manual_seed(args.seed)
    sentences, labels = common.read_examples(args.data_file)
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model_dir)
    if args.phase == "tokenize":
        result = measure_tokenize(args, tokenizer, sentences)
    elif args.phase == "predict":
        result = measure_predict(args, tokenizer, sentences)
    else:
        result = measure_train(args, tokenizer, sentences, labels)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    common.write_result({**result, "versions": versions})


if __name__ == "__main__":
    main()
