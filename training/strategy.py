"""Picks the tf.distribute strategy for the hardware (or the one asked for)."""

from __future__ import annotations

import glob
import json
import os

import tensorflow as tf


def make_strategy(name: str = "auto", cpu_devices: int = 1) -> tf.distribute.Strategy:
    """A tf.distribute strategy.

    Args:
        name: "auto" (TPU when one is attached, several hosts when TF_CONFIG
            names them, several GPUs, else the default strategy), or one of
            "tpu", "multi_worker", "mirrored", "default".
        cpu_devices: split the CPU into this many logical devices first, so
            "mirrored" can run replicas on one CPU (tests, demos). Must be
            set before TensorFlow initialises its devices.
    """
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
        )
    if name == "auto":
        name = _detect()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "default":
        return tf.distribute.get_strategy()
    raise ValueError(
        f"Unknown strategy {name!r}; expected auto, tpu, multi_worker, mirrored or default."
    )


def _detect():
    if any(
        os.environ.get(v) for v in ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE")
    ) or glob.glob("/dev/accel*"):
        return "tpu"
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if sum(len(v) for v in cluster.values()) > 1:
        return "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (worker 0 of several)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def accelerator(strategy: tf.distribute.Strategy) -> str:
    """ "tpu", "gpu" or "cpu": what the replicas run on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "tpu"
    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
