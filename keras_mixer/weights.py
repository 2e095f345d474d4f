"""Loading MLP-Mixer weights into our models.

Every source is first read into a ``Checkpoint``: a flat dict of arrays keyed
in the official layout (``stem/kernel``, ``MixerBlock_0/LayerNorm_0/scale``,
``MixerBlock_0/token_mixing/Dense_0/kernel``, ...), whatever the file format.
``load_weights`` then checks every key and shape against the model, adapts the
head and the token-mixing weights where it must, and only then assigns: a
failed load leaves the model as it was.
"""

import dataclasses
import logging
import math
import os
import re
import zipfile

import keras
import numpy as np

from keras_mixer.download import DownloadError, cached_download
from keras_mixer.files import keras_home

logger = logging.getLogger("keras_mixer")

RELEASE_ORIGIN = "https://storage.googleapis.com/mixer_models"
ORIGIN_ENV = "KERAS_MIXER_WEIGHTS_ORIGIN"  # another base URL, e.g. a mirror or file://
# release -> variants published in it (official vision_transformer README)
RELEASES = {
    "imagenet1k": ("B/16", "L/16"),
    "imagenet21k": ("B/16", "L/16"),
    "sam": ("B/16", "B/32"),
    "gsam": ("S/8", "S/16", "S/32", "B/16", "B/32"),
}
# sha256 of released files, where known; others are trusted on first download
# (``keras_mixer.download``).
RELEASE_SHA256 = {}

TIMM_EXTENSIONS = (".safetensors", ".pth", ".pt", ".bin")


@dataclasses.dataclass
class Checkpoint:
    """Arrays in the official key layout, and where they came from.

    Attributes:
        params: official key -> array.
        origin: "official", "timm" or "keras".
        source: what was read (path or release), for messages.
        file_keys: official key -> the key as written in the file.
    """

    params: dict
    origin: str
    source: str
    file_keys: dict

    @property
    def gelu_approximate(self):
        """The GELU form the weights were trained with (timm: exact erf)."""
        return self.origin != "timm"

    @property
    def num_blocks(self):
        return len({k.split("/")[0] for k in self.params if k.startswith("MixerBlock_")})

    @property
    def tokens(self):
        """S, the checkpoint's number of tokens (None when the key is missing)."""
        kernel = self.params.get("MixerBlock_0/token_mixing/Dense_0/kernel")
        return None if kernel is None else kernel.shape[0]

    @property
    def tokens_mlp_dim(self):
        """D_S, the checkpoint's token-MLP width (None when the key is missing)."""
        kernel = self.params.get("MixerBlock_0/token_mixing/Dense_0/kernel")
        return None if kernel is None else kernel.shape[1]

    def name(self, key):
        return self.file_keys.get(key, key)


# ------------------------------------------------------------------- reading


def read_checkpoint(source, variant=None):
    """Reads ``source`` into a Checkpoint.

    Args:
        source: a release name (see ``RELEASES``; needs ``variant``), or the
            path of an official ``.npz``, a timm ``.safetensors``/``.pth``/
            ``.bin``, or a Keras ``.weights.h5`` file.
        variant: e.g. "B/16", to pick the file of a release.
    """
    if isinstance(source, Checkpoint):
        return source
    source = os.fspath(source)
    if source in RELEASES:
        return _read_official(fetch_release(source, variant), label=f"{source} {variant}")
    if not os.path.exists(source):
        raise ValueError(
            f"Weights {source!r}: no such file, and not a release name "
            f"({', '.join(sorted(RELEASES))})."
        )
    if source.endswith(".npz"):
        return _read_official(source)
    if source.endswith(".weights.h5"):
        return _read_keras_h5(source)
    if source.endswith(TIMM_EXTENSIONS):
        return _read_timm(source)
    raise ValueError(
        f"Weights {source!r}: unknown format; expected .npz (official), "
        f".safetensors/.pth/.bin (timm) or .weights.h5 (Keras)."
    )


def fetch_release(release, variant):
    """Path of a released official checkpoint in the Keras cache, downloading
    it on first use (from ``$KERAS_MIXER_WEIGHTS_ORIGIN`` when set)."""
    available = RELEASES.get(release, ())
    if variant not in available:
        pairs = ", ".join(f"{r}: {'/'.join(v)}" for r, v in RELEASES.items())
        raise ValueError(
            f"No {release!r} release of Mixer-{variant}. Released: {pairs} "
            f"(variants separated by '/')."
            if release in RELEASES
            else f"Unknown release {release!r}."
        )
    file_name = f"Mixer-{variant.replace('/', '_')}.npz"
    base = os.environ.get(ORIGIN_ENV, RELEASE_ORIGIN).rstrip("/")
    path = os.path.join(keras_home(), "models", "mixer", release, file_name)
    try:
        return cached_download(f"{base}/{release}/{file_name}", path,
                               RELEASE_SHA256.get((release, variant)))
    except DownloadError as error:
        raise ValueError(
            f"Could not fetch {release} Mixer-{variant}: {error} Without network access, "
            "download the file elsewhere and pass its path as weights=.") from None


def _read_official(path, label=None):
    params = _read_npz(path)
    # Some exports nest everything under "params/" or "target/".
    for prefix in ("params/", "target/"):
        if params and all(k.startswith(prefix) for k in params):
            params = {k[len(prefix):]: v for k, v in params.items()}
    return Checkpoint(params, "official", label or path, {})


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: np.asarray(archive[key]) for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"Weights {path!r}: unreadable or truncated .npz ({error}).") from error


TIMM_BLOCK_NAMES = {
    "norm1.weight": "LayerNorm_0/scale",
    "norm1.bias": "LayerNorm_0/bias",
    "norm2.weight": "LayerNorm_1/scale",
    "norm2.bias": "LayerNorm_1/bias",
    "mlp_tokens.fc1.weight": "token_mixing/Dense_0/kernel",
    "mlp_tokens.fc1.bias": "token_mixing/Dense_0/bias",
    "mlp_tokens.fc2.weight": "token_mixing/Dense_1/kernel",
    "mlp_tokens.fc2.bias": "token_mixing/Dense_1/bias",
    "mlp_channels.fc1.weight": "channel_mixing/Dense_0/kernel",
    "mlp_channels.fc1.bias": "channel_mixing/Dense_0/bias",
    "mlp_channels.fc2.weight": "channel_mixing/Dense_1/kernel",
    "mlp_channels.fc2.bias": "channel_mixing/Dense_1/bias",
}
TIMM_TOP_NAMES = {
    "stem.proj.weight": "stem/kernel",
    "stem.proj.bias": "stem/bias",
    "norm.weight": "pre_head_layer_norm/scale",
    "norm.bias": "pre_head_layer_norm/bias",
    "head.weight": "head/kernel",
    "head.bias": "head/bias",
}


def _read_timm(path):
    state = _read_torch_state(path)
    params, file_keys = {}, {}
    for timm_key, value in state.items():
        match = re.fullmatch(r"blocks\.(\d+)\.(.+)", timm_key)
        if match and match.group(2) in TIMM_BLOCK_NAMES:
            key = f"MixerBlock_{match.group(1)}/{TIMM_BLOCK_NAMES[match.group(2)]}"
        elif timm_key in TIMM_TOP_NAMES:
            key = TIMM_TOP_NAMES[timm_key]
        else:
            key = timm_key  # reported as an unexpected key when loading
        value = np.asarray(value, np.float32)
        if key == "stem/kernel" and value.ndim == 4:
            value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif key.endswith("/kernel") and value.ndim == 2:
            value = value.T  # torch Linear (out, in) -> (in, out)
        params[key], file_keys[key] = value, timm_key
    return Checkpoint(params, "timm", path, file_keys)


def _read_torch_state(path):
    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(
                f"Weights {path!r}: unreadable or truncated .safetensors ({error})."
            ) from error
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"Weights {path!r}: reading PyTorch pickles needs torch "
            "(pip install torch), or convert the file to .safetensors."
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"Weights {path!r}: unreadable PyTorch file ({error}).") from error
    for wrapper in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    return {k: v.float().numpy() for k, v in state.items()}


def _read_keras_h5(path):
    """A .weights.h5 saved from one of our models. Keras names its groups
    after the layer classes (``mixer_block_3``) and our attributes
    (``token_mixing/dense_0``); translate them to the official keys."""
    import h5py

    top = {"patch_embedding": "stem", "layer_normalization": "pre_head_layer_norm", "dense": "head"}
    inner = {"norm_0": "LayerNorm_0", "norm_1": "LayerNorm_1",
             "dense_0": "Dense_0", "dense_1": "Dense_1"}
    params, file_keys = {}, {}

    def visit(name, item):
        if not isinstance(item, h5py.Dataset):
            return
        parts = name.split("/")
        if parts[0] != "layers" or parts[-2] != "vars":
            return
        layer, *path, _, index = parts[1:]
        block = re.fullmatch(r"mixer_block(?:_(\d+))?", layer)
        if block:
            path = [f"MixerBlock_{block.group(1) or 0}"] + [inner.get(p, p) for p in path]
        elif layer in top and not path:
            path = [top[layer]]
        else:
            path = [layer] + path
        is_norm = path[-1].startswith("LayerNorm") or path[-1] == "pre_head_layer_norm"
        leaf = ("scale" if is_norm else "kernel") if index == "0" else "bias"
        key = "/".join(path + [leaf])
        params[key], file_keys[key] = np.asarray(item), name

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except OSError as error:
        raise ValueError(f"Weights {path!r}: unreadable or truncated .weights.h5 ({error}).") from error
    return Checkpoint(params, "keras", path, file_keys)


# ------------------------------------------------------------------- loading


def load_weights(model, source, variant=None):
    """Loads weights into a model built by ``keras_mixer``.

    Args:
        model: a Mixer from ``keras_mixer.MlpMixer`` or a variant constructor.
        source: a release name, a checkpoint path (see ``read_checkpoint``) or
            a ``Checkpoint``.
        variant: the variant for a release name, e.g. "B/16"; by default the
            one the model's configuration matches.

    A head whose class count differs from the model's is not loaded (the
    model's head stays as it is; one log line says so); ``include_top=False``
    models ignore the head. A checkpoint with S tokens loads into a model with
    more or fewer tokens by adapting its token-mixing weights (see
    ``adapt_token_mixing``). Any other mismatch raises ValueError naming the key
    and both shapes, and leaves the model untouched.
    """
    if isinstance(source, str) and source in RELEASES and variant is None:
        variant = variant_of(model)
    checkpoint = read_checkpoint(source, variant)
    targets = _model_variables(model)
    values = _plan(checkpoint, targets, model)
    if checkpoint.gelu_approximate != _model_gelu_approximate(model):
        logger.warning(
            "%s was trained with %s GELU but the model uses %s GELU: outputs will differ "
            "(build the model with gelu_approximate=%s to reproduce them).",
            checkpoint.source,
            "tanh-approximate" if checkpoint.gelu_approximate else "exact",
            "tanh-approximate" if _model_gelu_approximate(model) else "exact",
            checkpoint.gelu_approximate,
        )
    backup = {key: targets[key].numpy() for key in values}
    try:
        for key, value in values.items():
            targets[key].assign(value)
    except BaseException:
        for key, value in backup.items():
            targets[key].assign(value)
        raise
    return model


def variant_of(model):
    """The released variant ("B/16") whose configuration the model has."""
    stem = model.get_layer("stem")
    return release_variant(stem.patch_size, stem.hidden_size, _count_blocks(model),
                           model.get_layer("MixerBlock_0").channels_mlp_dim)


def release_variant(patch_size, hidden_size, num_blocks, channels_mlp_dim):
    """The variant name of a configuration (the token-MLP width may differ:
    it grows with the resolution)."""
    from keras_mixer.models import VARIANTS

    config = (patch_size, hidden_size, num_blocks, channels_mlp_dim)
    for name, (patch, hidden, blocks, _, channels_mlp) in {**VARIANTS, **EXTRA_VARIANTS}.items():
        if config == (patch, hidden, blocks, channels_mlp):
            return name
    raise ValueError(
        "Release weights exist only for the released variants; this configuration "
        f"(patch {patch_size}, hidden {hidden_size}, {num_blocks} blocks, channel MLP "
        f"{channels_mlp_dim}) matches none. Pass a checkpoint path instead."
    )


# S/8 is released (gsam) but is not one of the paper's Table 1 constructors.
EXTRA_VARIANTS = {"S/8": (8, 512, 8, 256, 2048)}


def _count_blocks(model):
    return sum(1 for layer in model.layers if re.fullmatch(r"MixerBlock_\d+", layer.name))


def _model_gelu_approximate(model):
    return model.get_layer("MixerBlock_0").gelu_approximate


def _model_variables(model):
    """official key -> variable, for the model's Mixer weights."""
    names = ("stem", "pre_head_layer_norm", "head")
    targets = {}
    for variable in model.weights:
        root = variable.path.split("/")[0]
        if root in names or re.fullmatch(r"MixerBlock_\d+", root):
            key = re.sub(r"/gamma$", "/scale", re.sub(r"/beta$", "/bias", variable.path))
            targets[key] = variable
    if "stem/kernel" not in targets:
        raise ValueError("load_weights needs a model built by keras_mixer (no 'stem' layer).")
    return targets


def _plan(checkpoint, targets, model):
    """official key -> array to assign, after checking everything."""
    source, params = checkpoint.source, dict(checkpoint.params)
    blocks, model_blocks = checkpoint.num_blocks, _count_blocks(model)
    if blocks != model_blocks:
        raise ValueError(
            f"Weights {source}: the checkpoint has {blocks} Mixer blocks, the model has "
            f"{model_blocks}."
        )

    head_keys = {"head/kernel", "head/bias"}
    if not head_keys & targets.keys():
        for key in head_keys:
            params.pop(key, None)
    elif head_keys & params.keys():
        model_classes = targets["head/bias"].shape[0]
        classes = params.get("head/bias", np.zeros(0)).shape[0]
        if classes != model_classes:
            logger.warning(
                "%s: head not loaded: the checkpoint has %d classes, the model %d; the "
                "model's head stays as it is (zero-initialised when new).",
                source, classes, model_classes,
            )
            for key in head_keys:
                params.pop(key, None)
    else:
        logger.warning("%s has no head; the model's head stays as it is.", source)

    unexpected = sorted(params.keys() - targets.keys())
    if unexpected:
        key = unexpected[0]
        raise ValueError(
            f"Weights {source}: unexpected key {checkpoint.name(key)!r} with shape "
            f"{params[key].shape}; the model has no such weight{_and_more(unexpected)}"
        )
    missing = sorted(targets.keys() - params.keys() - head_keys)
    if missing:
        key = missing[0]
        raise ValueError(
            f"Weights {source}: missing key {checkpoint.name(key)!r}; the model expects "
            f"shape {tuple(targets[key].shape)}{_and_more(missing, ' missing')}"
        )

    model_tokens = targets["MixerBlock_0/token_mixing/Dense_0/kernel"].shape
    if params["MixerBlock_0/token_mixing/Dense_0/kernel"].shape != tuple(model_tokens):
        grid = model.get_layer("stem").grid_size
        for i in range(blocks):
            params.update(adapt_token_mixing(params, f"MixerBlock_{i}/token_mixing",
                                             grid, model_tokens[1], source))
        logger.info("%s: token-mixing weights adapted from %d to %d tokens.",
                    source, checkpoint.tokens, model_tokens[0])

    for key, value in params.items():
        expected = tuple(targets[key].shape)
        if value.shape != expected:
            raise ValueError(
                f"Weights {source}: {checkpoint.name(key)!r} has shape {value.shape}, the "
                f"model expects {expected}."
            )
    return params


def _and_more(keys, what=""):
    """Sentence end after naming keys[0]: " (and 3 more missing)." or "."."""
    return f" (and {len(keys) - 1} more{what})." if len(keys) > 1 else "."


# ------------------------------------------------------ resolution changes


def adapt_token_mixing(params, prefix, grid, mlp_dim, source="checkpoint", source_grid=None):
    """Token-mixing MLP weights for a new token grid.

    Args:
        params: official-layout arrays holding ``{prefix}/Dense_{0,1}/{kernel,bias}``.
        prefix: e.g. "MixerBlock_0/token_mixing".
        grid: the new token grid (rows, cols).
        mlp_dim: the new model's token-MLP width.
        source_grid: the checkpoint's grid; by default square (all releases are).

    Two methods, chosen by the shapes:

    * Tiles (paper, Appendix C): the new grid is (k_r * rows, k_c * cols) and
      ``mlp_dim`` is ``k_r * k_c`` times the checkpoint's. The image is split
      into k_r x k_c tiles of the original grid, and the new MLP runs the
      pre-trained one on each tile independently: block-diagonal kernels, one
      block per tile. Our stem orders tokens row-major over the whole image, so
      the blocks are scattered accordingly: token (r, c) belongs to tile
      (r // rows, c // cols) at local position (r % rows, c % cols).
      Invariant: on an image made of tiles, the token features are those of
      the original model on each tile, and the logits their mean.
    * Resampling (ours, for any grid, same ``mlp_dim``): the kernels are
      functions of the token position; resize them bilinearly over the grid,
      scaling the first kernel by sqrt(S / S') so that its sum over S' tokens
      keeps the variance it had over S (for weakly correlated tokens).
      Approximate: the model sees the same content at a new sampling. On the
      digits benchmark (benchmarks/resolution.py) this kept 86-91% accuracy
      when upsampling 1.25-3x without fine-tuning (98.7% at the trained size),
      better overall than scaling by S / S' or not at all.
    """
    w0, b0 = params[f"{prefix}/Dense_0/kernel"], params[f"{prefix}/Dense_0/bias"]
    w1, b1 = params[f"{prefix}/Dense_1/kernel"], params[f"{prefix}/Dense_1/bias"]
    tokens, width = w0.shape
    rows, cols = source_grid or _square_grid(tokens, source)
    new_rows, new_cols = grid
    tiles = (new_rows // rows) * (new_cols // cols)
    if new_rows % rows == 0 and new_cols % cols == 0 and mlp_dim == tiles * width:
        r, c = np.divmod(np.arange(new_rows * new_cols), new_cols)
        tile = (r // rows) * (new_cols // cols) + c // cols
        local = (r % rows) * cols + c % cols
        new_w0 = np.zeros((new_rows * new_cols, mlp_dim), w0.dtype)
        new_w1 = np.zeros((mlp_dim, new_rows * new_cols), w1.dtype)
        hidden = tile[:, None] * width + np.arange(width)  # (S', D_S) hidden unit indices
        new_w0[np.arange(len(tile))[:, None], hidden] = w0[local]
        new_w1[hidden, np.arange(len(tile))[:, None]] = w1[:, local].T
        new_b0, new_b1 = np.tile(b0, tiles), b1[local]
    elif mlp_dim == width:
        scale = math.sqrt(tokens / (new_rows * new_cols))
        new_w0 = _resize_grid(w0.reshape(rows, cols, width), grid) * scale
        new_w1 = _resize_grid(w1.T.reshape(rows, cols, width), grid).T
        new_b0 = b0
        new_b1 = _resize_grid(b1.reshape(rows, cols, 1), grid)[:, 0]
    else:
        raise ValueError(
            f"Weights {source}: cannot adapt {prefix} from a {rows}x{cols} token grid with "
            f"token-MLP width {width} to a {new_rows}x{new_cols} grid with width {mlp_dim}: "
            f"tiles need an integer multiple of the grid and width {width} x tiles, "
            f"resampling needs width {width}."
        )
    return {
        f"{prefix}/Dense_0/kernel": new_w0.astype(w0.dtype),
        f"{prefix}/Dense_0/bias": new_b0.astype(b0.dtype),
        f"{prefix}/Dense_1/kernel": new_w1.astype(w1.dtype),
        f"{prefix}/Dense_1/bias": new_b1.astype(b1.dtype),
    }


def tiled_token_mlp_dim(checkpoint, grid, source_grid=None):
    """The token-MLP width the paper's tile method gives a model with token
    ``grid``, or the checkpoint's own width when the grid is not an integer
    multiple of the checkpoint's (then resampling applies)."""
    if checkpoint.tokens in (None, grid[0] * grid[1]):
        return checkpoint.tokens_mlp_dim
    rows, cols = source_grid or _square_grid(checkpoint.tokens, checkpoint.source)
    if grid[0] % rows or grid[1] % cols:
        return checkpoint.tokens_mlp_dim
    return checkpoint.tokens_mlp_dim * (grid[0] // rows) * (grid[1] // cols)


def _square_grid(tokens, source):
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(
            f"Weights {source}: {tokens} tokens is not a square grid; pass the "
            "checkpoint's source_grid=(rows, cols) to adapt it."
        )
    return side, side


def _resize_grid(values, grid):
    """(rows, cols, d) -> (grid[0] * grid[1], d), bilinear, antialiased."""
    resized = keras.ops.image.resize(
        values.astype(np.float32), grid, interpolation="bilinear", antialias=True,
        data_format="channels_last",
    )
    return np.asarray(keras.ops.convert_to_numpy(resized)).reshape(-1, values.shape[-1])
