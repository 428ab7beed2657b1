"""Pick the tf.distribute strategy once, at startup, and say why."""

import functools
import json
import logging
import os
import time

import tensorflow as tf

logger = logging.getLogger(__name__)


def build_strategy(
    name: str = "auto",
    use_tpu: bool = False,
    tpu_name: str | None = None,
    tpu_zone: str | None = None,
    gcp_project: str | None = None,
    master: str | None = None,
) -> tf.distribute.Strategy:
    """Builds the strategy `name` names, or for `auto` the one the machine suits.

    `auto`: TPUStrategy with `--use_tpu`/`--tpu_name`; MultiWorkerMirrored
    when `TF_CONFIG` names several workers; Mirrored when several GPUs are
    visible; the default strategy otherwise.
    """
    name, reason = resolve_strategy_name(name, use_tpu or bool(tpu_name))
    if name == "tpu":
        strategy = _tpu_strategy(tpu_name or master, tpu_zone, gcp_project)
    elif name == "multi_worker":
        strategy = BatchSafeMultiWorkerMirroredStrategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    logger.info(
        "Strategy: %s (%s); %d replica(s) in sync.",
        type(strategy).__name__,
        reason,
        strategy.num_replicas_in_sync,
    )
    return strategy


def resolve_strategy_name(name: str, wants_tpu: bool) -> tuple[str, str]:
    """The concrete strategy for `name`, and the reason it was chosen."""
    if name != "auto":
        return name, f"--strategy={name}"
    if wants_tpu:
        return "tpu", "--use_tpu or --tpu_name"
    workers = count_tf_config_workers()
    if workers > 1:
        return "multi_worker", f"TF_CONFIG names {workers} workers"
    gpus = len(tf.config.list_physical_devices("GPU"))
    if gpus > 1:
        return "mirrored", f"{gpus} GPUs are visible"
    return "default", f"{gpus} GPU visible" if gpus else "no GPU or TPU visible"


def count_tf_config_workers() -> int:
    """Chief plus workers named in `TF_CONFIG` (0 when it is unset)."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's outputs (one process per cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


class BatchSafeMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy that Keras 3 `fit` can run under.

    Two calls Keras makes fail on the plain strategy:
    - before the first step, `fit` reduces a whole nested data batch to learn
      the input shapes, but the strategy reduces single tensors only; the
      first local replica's batch carries the same shapes;
    - each step reduces scalar metrics with `axis=0`, which a scalar lacks;
      the mean over replicas needs no axis.
    """

    def reduce(self, reduce_op, value, axis):
        if tf.nest.is_nested(value):
            return tf.nest.map_structure(
                lambda item: self.experimental_local_results(item)[0], value
            )
        if (
            axis is not None
            and self.experimental_local_results(value)[0].shape.rank == 0
        ):
            axis = None
        return super().reduce(reduce_op, value, axis)


def _tpu_strategy(tpu: str | None, zone: str | None, project: str | None):
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu, zone=zone, project=project
    )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def resolve_precision(name: str, strategy: tf.distribute.Strategy) -> str:
    """The Keras dtype policy for `--precision`; `auto` picks per device, logged.

    `auto`: mixed_bfloat16 on TPUs, mixed_float16 on GPUs with tensor cores
    (compute capability 7.0+), float32 elsewhere. CPUs stay float32 even
    with native bfloat16 (AVX512_BF16, AMX): on a 2-core AMD EPYC with
    AVX512_BF16 the demo trained about 1.3x faster in mixed_bfloat16 but
    reached 82.8% mean dev accuracy over three seeds against 83.6% in float32
    (README, "The demo"), so it is there to ask for, not a default.
    """
    if name != "auto":
        return name
    if isinstance(strategy, tf.distribute.TPUStrategy):
        policy, reason = "mixed_bfloat16", "TPU"
    elif gpus := tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpus[0])
        capability = details.get("compute_capability", (0, 0))
        tensor_cores = tuple(capability) >= (7, 0)
        policy = "mixed_float16" if tensor_cores else "float32"
        reason = f"GPU with compute capability {capability}"
    elif cpu_has_bfloat16():
        policy = "float32"
        reason = "CPU with bfloat16 instructions; --precision=mixed_bfloat16 is opt-in"
    else:
        policy, reason = "float32", "CPU without native bfloat16"
    logger.info("Precision: %s (--precision=auto, %s).", policy, reason)
    return policy


# bfloat16 evaluation pays only where the CPU multiplies bfloat16 matrices
# clearly faster than float32: the matrix products are about 60% of a
# forward pass here, and every matrix layer adds casts.
BFLOAT16_MIN_MATMUL_SPEEDUP = 1.3


def resolve_inference_precision(name: str, training_policy: str) -> str:
    """The dtype policy that evaluation and prediction run in, logged if new.

    `auto` on a CPU with bfloat16 instructions (AVX512_BF16, AMX) that
    trained in float32: mixed_bfloat16 if this CPU multiplies bfloat16
    matrices at least `BFLOAT16_MIN_MATMUL_SPEEDUP` times as fast as float32
    (timed once per process, a fraction of a second, so every seed of a
    run gets the same choice). The instructions alone do not
    say: on a 2-core AMD EPYC with AVX512_BF16 prediction ran about 1.3x
    faster in bfloat16 (and dev accuracy of three float32-trained demo
    models moved by at most 0.2 points), on a 2-core Intel Xeon with
    AVX512_BF16 but no AMX the matrix products ran 0.58x as fast and
    prediction about 0.6x.
    Otherwise the training policy. The export computes in float32 either way.
    """
    if (
        name != "auto"
        or training_policy != "float32"
        or tf.config.list_physical_devices("GPU")
        or not cpu_has_bfloat16()
    ):
        return training_policy
    speedup = this_cpus_bfloat16_speedup()
    if speedup >= BFLOAT16_MIN_MATMUL_SPEEDUP:
        logger.info(
            "Evaluation and prediction: mixed_bfloat16 (--precision=auto: this "
            "CPU multiplied bfloat16 matrices %.2fx as fast as float32; training "
            "stays float32).",
            speedup,
        )
        return "mixed_bfloat16"
    logger.info(
        "Evaluation and prediction: float32 (--precision=auto: this CPU has "
        "bfloat16 instructions but multiplied bfloat16 matrices only %.2fx as "
        "fast as float32; mixed_bfloat16 pays from %.1fx).",
        speedup,
        BFLOAT16_MIN_MATMUL_SPEEDUP,
    )
    return training_policy


@functools.cache
def this_cpus_bfloat16_speedup() -> float:
    """`bfloat16_matmul_speedup()`, measured once per process."""
    return bfloat16_matmul_speedup()


def bfloat16_matmul_speedup(
    rows: int = 1024, depth: int = 384, columns: int = 1536, repeats: int = 8
) -> float:
    """float32 time / bfloat16 time of one matrix product, best of `repeats`.

    The default shape is a BERT feed-forward layer's for 32 sentences of 32
    tokens. The two precisions are timed in turns, so load from other
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


def resolve_pad_to_multiple_of(
    value: int, pads_statically: bool, jit_compile: bool
) -> int:
    """What each batch's length is rounded up to; `0` picks per device, logged.

    GPUs (tensor cores want multiples of 8) and XLA (which compiles once per
    shape) do better with few distinct lengths: 8. CPUs run a graph traced
    for any length and pay for every padded token: 1 (length-bucketed
    training on the demo's sentences ran 1.19x faster than with 8 on an AVX2
    CPU; length-sorted prediction was within the noise).
    """
    if value or pads_statically:
        return value or 1
    if jit_compile:
        value, reason = 8, "XLA compiles once per batch shape"
    elif tf.config.list_physical_devices("GPU"):
        value, reason = 8, "GPU"
    else:
        value, reason = 1, "CPU, no XLA: every padded token costs"
    logger.info(
        "Batches padded to their longest example (multiple of %d: %s).", value, reason
    )
    return value


def cpu_has_bfloat16(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bfloat16 natively (Linux; False elsewhere)."""
    try:
        with open(cpuinfo_path, encoding="utf-8") as file:
            for line in file:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False
