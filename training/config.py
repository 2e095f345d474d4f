"""Training configs: one nested dict per run, in the style of big_vision.

A config is a Python file with ``get_config()`` returning a dict, a YAML file,
or the name of a shipped one (``training/configs/NAME.py``). It overrides
``DEFAULTS``; every key must be one of ``DEFAULTS``' keys, so a typo is an
error instead of a silently ignored setting.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.util
import math
import os
from collections.abc import Iterable

from keras_mixer.datasets import DATA_DEFAULTS

CONFIGS_DIR = os.path.join(os.path.dirname(__file__), "configs")

DEFAULTS = {
    "model": {
        "variant": "S/16",  # a keras_mixer variant, or None for the sizes below
        "patch_size": None,
        "hidden_size": None,
        "num_blocks": None,
        "tokens_mlp_dim": None,
        "channels_mlp_dim": None,
        "weights": None,  # a release or checkpoint path to fine-tune from
        "dropout_rate": 0.0,
        "drop_path_rate": 0.0,  # stochastic depth of the last block
        "gelu_approximate": None,  # None: follow the weights (tanh without)
    },
    "data": DATA_DEFAULTS,  # keras_mixer.datasets: shared with conversion
    "train": {
        "epochs": 10,
        "batch_size": 256,  # global, split across replicas
        "steps_per_epoch": None,  # None: one pass over the training split
        "label_smoothing": 0.0,
        "mixup_alpha": 0.0,
        "cutmix_alpha": 0.0,
        "randaugment_ops": 0,  # 0: off
        "randaugment_factor": 0.5,  # keras.layers.RandAugment factor, in [0, 1]
        "precision": "auto",  # auto: bfloat16 on TPU, float16 on GPU, float32 on CPU
        "jit_compile": "auto",
        "seed": 0,
        "checkpoint_every": 1,  # keep epoch_NNNN.weights.h5 every N epochs
    },
    "optimizer": {
        "name": "adamw",  # adam | adamw | sgd
        "learning_rate": 1e-3,  # peak, for the global batch
        "weight_decay": 0.1,  # decoupled; not on biases and LayerNorm parameters
        "beta_1": 0.9,
        "beta_2": 0.999,
        "momentum": 0.9,  # sgd
        "global_clipnorm": 1.0,
        "warmup_steps": 0,
        "decay": "linear",  # linear | cosine | constant
    },
    "distribute": {
        "strategy": "auto",  # auto | default | mirrored | multi_worker | tpu
        "cpu_devices": 1,  # >1: split the CPU into logical devices (tests, demos)
    },
}


class ConfigError(ValueError):
    pass


def load_config(source: str, overrides: Iterable[str] = ()) -> dict:
    """Config dict from a shipped name, a .py or a .yaml file, and ``key=value``
    overrides (dotted keys, Python literals: ``train.epochs=3``)."""
    config = copy.deepcopy(DEFAULTS)
    merge(config, read_config_file(resolve(source)), path=())
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep:
            raise ConfigError(f"Override {override!r} is not key=value.")
        set_value(config, key.strip(), parse_value(text.strip()))
    check_ranges(config)
    return config


def resolve(source: str) -> str:
    if os.path.exists(source):
        return source
    shipped = os.path.join(CONFIGS_DIR, f"{source}.py")
    if os.path.exists(shipped):
        return shipped
    names = sorted(f[:-3] for f in os.listdir(CONFIGS_DIR) if f.endswith(".py"))
    raise ConfigError(
        f"Config {source!r}: no such file and no shipped config of that name "
        f"(shipped: {', '.join(names)})."
    )


def _raised_in(path: str, error: Exception) -> str:
    """``error`` as one phrase, with the line of ``path`` it was raised at."""
    import traceback

    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
    where = f" at line {lines[-1]}" if lines else ""
    return f"raised {type(error).__name__}{where}: {error}."


def read_config_file(path: str) -> dict:
    if path.endswith(".py"):
        spec = importlib.util.spec_from_file_location("mixer_config", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SyntaxError as error:
            raise ConfigError(f"Config {path}, line {error.lineno}: {error.msg}.") from None
        except Exception as error:
            raise ConfigError(f"Config {path} failed to run: {_raised_in(path, error)}") from None
        if not hasattr(module, "get_config"):
            raise ConfigError(f"Config {path}: defines no get_config().")
        try:
            return module.get_config()
        except Exception as error:
            raise ConfigError(f"Config {path}: get_config() {_raised_in(path, error)}") from None
    if path.endswith((".yaml", ".yml")):
        import yaml

        with open(path) as f:
            try:
                config = yaml.safe_load(f) or {}
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None)
                where = f", line {mark.line + 1}" if mark else ""
                problem = getattr(error, "problem", None) or type(error).__name__
                raise ConfigError(f"Config {path}{where}: not valid YAML ({problem}).") from None
        if not isinstance(config, dict):
            raise ConfigError(
                f"Config {path}: expected sections (model:, train:, ...), got "
                f"{type(config).__name__} {config!r:.60}."
            )
        return config
    raise ConfigError(f"Config {path}: expected a .py or .yaml file.")


def merge(config: dict, updates: dict, path: tuple[str, ...]) -> None:
    for key, value in updates.items():
        where = ".".join((*path, key))
        if key not in config:
            raise ConfigError(
                f"Unknown config key {where!r}; known keys"
                f"{' in ' + repr('.'.join(path)) if path else ''}: "
                f"{', '.join(sorted(config))}."
            )
        if isinstance(config[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"Config key {where!r} is a section; got {value!r}.")
            merge(config[key], value, (*path, key))
        else:
            _check_kind(where, config[key], value)
            config[key] = tuple(value) if isinstance(config[key], tuple) else value


KINDS_OF_SIZE = ("patch_size", "hidden_size", "num_blocks", "tokens_mlp_dim", "channels_mlp_dim")
# What a key takes where its default does not say (None, or more than one kind).
KINDS = {
    **{f"model.{key}": (int, None) for key in KINDS_OF_SIZE},
    "model.variant": (str, None),
    "model.weights": (str, None),
    "model.gelu_approximate": (bool, None),
    "data.data_dir": (str, None),
    "train.steps_per_epoch": (int, None),
    "train.jit_compile": (bool, str),
    "optimizer.global_clipnorm": (float, None),
}
_KIND_NAMES = {
    int: "a whole number",
    float: "a number",
    bool: "True or False",
    str: "a string",
    tuple: "a pair of numbers",
    None: "None",
}


def _check_kind(where, default, value):
    """Every value must be of the kind its key takes: that of its default, or
    the kinds ``KINDS`` lists. A float key also takes whole numbers; True and
    False are not numbers."""
    kinds = KINDS.get(where, (type(default),))
    if any(_is_kind(value, kind) for kind in kinds):
        return
    names = " or ".join(_KIND_NAMES[kind] for kind in kinds)
    raise ConfigError(f"Config key {where!r} takes {names} (default {default!r}); got {value!r}.")


def _is_kind(value, kind):
    if kind is None:
        return value is None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is tuple:
        return (
            isinstance(value, (tuple, list))
            and len(value) == 2
            and all(_is_kind(item, float) for item in value)
        )
    return isinstance(value, kind)


@dataclasses.dataclass(frozen=True)
class Range:
    """The finite numbers from ``low`` to ``high`` (None: unbounded), each end
    included or not."""

    low: float | None
    high: float | None = None
    low_included: bool = True
    high_included: bool = True

    def holds(self, value: float) -> bool:
        above = self.low is None or value > self.low or (self.low_included and value == self.low)
        below = (
            self.high is None or value < self.high or (self.high_included and value == self.high)
        )
        return math.isfinite(value) and above and below

    def __str__(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.low_included else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<=' if self.high_included else '<'} {self.high:g}")
        return "a finite number " + " and ".join(parts) if parts else "a finite number"


POSITIVE = Range(0, low_included=False)
AT_LEAST_ONE = Range(1)
NON_NEGATIVE = Range(0)
FRACTION = Range(0, 1)  # 0 to 1, both included
BELOW_ONE = Range(0, 1, high_included=False)

# The values each numeric key can mean something with; checked before any work.
RANGES = {
    **{f"model.{key}": AT_LEAST_ONE for key in KINDS_OF_SIZE},
    "model.dropout_rate": BELOW_ONE,
    "model.drop_path_rate": BELOW_ONE,
    "data.val_fraction": Range(0, 1, low_included=False, high_included=False),
    "data.image_size": AT_LEAST_ONE,
    "data.crop_scale": Range(0, 1, low_included=False),
    "data.eval_crop": Range(0, 1, low_included=False),
    "data.shuffle_buffer": AT_LEAST_ONE,
    "train.epochs": AT_LEAST_ONE,  # an untrained model is not a run's result
    "train.batch_size": AT_LEAST_ONE,
    "train.steps_per_epoch": AT_LEAST_ONE,
    "train.label_smoothing": BELOW_ONE,
    "train.mixup_alpha": NON_NEGATIVE,
    "train.cutmix_alpha": NON_NEGATIVE,
    "train.randaugment_ops": NON_NEGATIVE,
    "train.randaugment_factor": FRACTION,
    "train.checkpoint_every": AT_LEAST_ONE,
    "optimizer.learning_rate": POSITIVE,
    "optimizer.weight_decay": NON_NEGATIVE,
    "optimizer.beta_1": BELOW_ONE,
    "optimizer.beta_2": BELOW_ONE,
    "optimizer.momentum": BELOW_ONE,
    "optimizer.global_clipnorm": POSITIVE,
    "optimizer.warmup_steps": NON_NEGATIVE,
    "distribute.cpu_devices": AT_LEAST_ONE,
}


def check_ranges(config: dict) -> None:
    """Refuses a value outside its key's ``RANGES`` entry (None: not set)."""
    for where, allowed in RANGES.items():
        section, key = where.split(".")
        value = config[section][key]
        values = value if isinstance(value, (tuple, list)) else (value,)
        if value is not None and not all(allowed.holds(item) for item in values):
            raise ConfigError(f"Config key {where!r} must be {allowed}; got {value!r}.")


def set_value(config: dict, dotted: str, value: object) -> None:
    *sections, key = dotted.split(".")
    node = config
    for depth, section in enumerate(sections):
        if not isinstance(node.get(section), dict):
            raise ConfigError(
                f"Unknown config key {'.'.join(sections[: depth + 1])!r} in override {dotted}=..."
            )
        node = node[section]
    merge(node, {key: value}, tuple(sections))


def parse_value(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare string: tfds:cifar10, a path, "cosine"
