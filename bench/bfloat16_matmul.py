"""Whether this CPU multiplies bfloat16 matrices faster than float32.

`--precision=auto` decides the inference precision from the CPU's vendor and
flags (`app.strategy.cpu_inference_precision`), never from a timing. This
measures one product to check that rule on a new kind of CPU before changing
it (and docs/ where the measurements are kept):
`.venv/bin/python -m bench.bfloat16_matmul`
"""

import time

import tensorflow as tf

from app.strategy import cpu_inference_precision, read_cpu_info


def bfloat16_matmul_speedup(
    rows: int = 1024, depth: int = 384, columns: int = 1536, repeats: int = 8
) -> float:
    """float32 time / bfloat16 time of one matrix product, best of `repeats`.

    The default shape is a BERT-small feed-forward layer's for 32 sentences of
    32 tokens. The two precisions are timed in turns, so load from other
    processes falls on both alike.
    """
    product = tf.function(tf.matmul)
    best = {}
    with tf.device("/CPU:0"):
        a = tf.random.stateless_uniform((rows, depth), seed=(1, 2))
        b = tf.random.stateless_uniform((depth, columns), seed=(3, 4))
        operands = {
            dtype: (tf.cast(a, dtype), tf.cast(b, dtype))
            for dtype in (tf.float32, tf.bfloat16)
        }
        for dtype, (x, y) in operands.items():
            product(x, y).numpy()  # traced and warm
            best[dtype] = float("inf")
        for _ in range(repeats):
            for dtype, (x, y) in operands.items():
                start = time.perf_counter()
                product(x, y).numpy()
                best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[tf.float32] / best[tf.bfloat16]


def main() -> None:
    cpu = read_cpu_info()
    policy, reason = cpu_inference_precision(cpu)
    bfloat16_flags = sorted(flag for flag in cpu.flags if "bf16" in flag)
    print(f"vendor: {cpu.vendor or 'unknown'}; bfloat16 flags: {bfloat16_flags}")
    print(f"--precision=auto predicts in {policy} ({reason})")
    print(f"bfloat16 matrix product speed / float32: {bfloat16_matmul_speedup():.2f}")


if __name__ == "__main__":
    main()
