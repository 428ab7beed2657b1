"""Pick the tf.distribute strategy once, at startup, and say why."""

import dataclasses
import json
import logging
import os

import tensorflow as tf

from app.compat import BatchSafeMultiWorkerMirroredStrategy

logger = logging.getLogger(__name__)

# Calls of the predict function that run at once on CPU-only processes
# (app/cpu_speedups.py, app/predict.py).
CPU_PREDICT_CALLS_AT_ONCE = 2


def runs_on_cpu_only() -> bool:
    """Whether this process sees neither a GPU nor a TPU."""
    return not (
        tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU")
    )


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
    (compute capability 7.0+), mixed_bfloat16 on CPUs with AMX bfloat16
    tiles, float32 elsewhere. On AMX, bfloat16 training is much faster and
    the demo's dev accuracy moved less than its seeds' spread
    (docs/results.md, docs/speed.md); CPUs with AVX512_BF16 alone gain less,
    and train in float32 unless asked.
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
    elif (cpu := read_cpu_info()).has_amx:
        policy, reason = "mixed_bfloat16", "CPU with AMX bfloat16 tiles"
    elif "avx512_bf16" in cpu.flags:
        policy = "float32"
        reason = "CPU with AVX512_BF16, no AMX; --precision=mixed_bfloat16 is opt-in"
    else:
        policy, reason = "float32", "CPU without AVX512_BF16 or AMX"
    logger.info("Precision: %s (--precision=auto, %s).", policy, reason)
    return policy


def resolve_inference_precision(
    name: str, training_policy: str, cpuinfo_path: str | None = None
) -> str:
    """The dtype policy that evaluation and prediction run in, logged.

    `auto` after float32 training on a machine without GPU: the choice of
    `cpu_inference_precision` from the CPU's vendor and flags, so the same
    command on the same kind of machine gives the same numbers. Otherwise
    the training policy. The export computes in float32 either way.
    """
    if (
        name != "auto"
        or training_policy != "float32"
        or tf.config.list_physical_devices("GPU")
    ):
        return training_policy
    policy, reason = cpu_inference_precision(read_cpu_info(cpuinfo_path))
    logger.info(
        "Evaluation and prediction: %s (--precision=auto: %s; training stays float32).",
        policy,
        reason,
    )
    return policy


def resolve_pad_to_multiple_of(
    value: int, pads_statically: bool, jit_compile: bool
) -> int:
    """What each batch's length is rounded up to; `0` picks per device, logged.

    GPUs (tensor cores want multiples of 8) and XLA (which compiles once per
    shape) do better with few distinct lengths: 8. CPUs run a graph traced
    for any length and pay for every padded token: 1.
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


CPUINFO_PATH = "/proc/cpuinfo"


@dataclasses.dataclass(frozen=True)
class CpuInfo:
    """The first CPU's entry in /proc/cpuinfo."""

    vendor: str = ""  # vendor_id: "GenuineIntel", "AuthenticAMD", ...
    flags: frozenset[str] = frozenset()

    @property
    def has_amx(self) -> bool:
        """AMX bfloat16 tiles: bfloat16 matrix products far faster than float32."""
        return "amx_bf16" in self.flags


def read_cpu_info(path: str | None = None) -> CpuInfo:
    """Vendor and flags of the first CPU in `path` (default `CPUINFO_PATH`).

    Empty where the file is missing (not Linux): no bfloat16 is assumed.
    """
    vendor, flags = "", None
    try:
        with open(path or CPUINFO_PATH, encoding="utf-8") as file:
            for line in file:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key in ("flags", "Features") and flags is None:
                    flags = frozenset(value.split())  # "Features" on Arm
                if vendor and flags is not None:
                    break
    except OSError:
        pass
    return CpuInfo(vendor, flags or frozenset())


def cpu_inference_precision(cpu: CpuInfo) -> tuple[str, str]:
    """The policy a float32-trained model predicts in on `cpu`, and the reason.

    A fixed rule on vendor and flags; the measurements behind it are in
    docs/. AMX multiplies bfloat16 tiles; on AMD CPUs AVX512_BF16 multiplies
    bfloat16 faster than float32, on Intel CPUs without AMX slower.
    """
    if cpu.has_amx:
        return "mixed_bfloat16", "the CPU has AMX bfloat16 tiles"
    if "avx512_bf16" not in cpu.flags:
        return "float32", "the CPU has neither AVX512_BF16 nor AMX"
    if cpu.vendor == "AuthenticAMD":
        return "mixed_bfloat16", "an AMD CPU with AVX512_BF16"
    vendor = cpu.vendor or "unknown vendor"
    return (
        "float32",
        f"AVX512_BF16 without AMX ({vendor}), where bfloat16 products are not "
        "known to beat float32",
    )
