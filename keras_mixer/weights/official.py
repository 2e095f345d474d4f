"""Official checkpoints: flat ``.npz`` archives with the official keys, and
the released ones, fetched once into the Keras cache (``keras_mixer.presets``)."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from keras_mixer import presets
from keras_mixer.download import DownloadError, FileKind, cached_download
from keras_mixer.files import keras_home
from keras_mixer.presets import ORIGIN_ENV, RELEASE_ORIGIN, RELEASES, release_url
from keras_mixer.weights.checkpoint import Checkpoint


def fetch_release(release: str, variant: str) -> str:
    """Path of a released official checkpoint in the Keras cache, downloading
    it on first use (from ``$KERAS_MIXER_WEIGHTS_ORIGIN`` when set)."""
    available = RELEASES[release].variants if release in RELEASES else ()
    if variant not in available:
        pairs = ", ".join(f"{name}: {'/'.join(r.variants)}" for name, r in RELEASES.items())
        raise ValueError(
            f"No {release!r} release of Mixer-{variant}. Released: {pairs} "
            f"(variants separated by '/')."
            if release in RELEASES
            else f"Unknown release {release!r}."
        )
    path = os.path.join(
        keras_home(), "models", "mixer", release, RELEASES[release].file_name(variant)
    )
    origin = os.environ.get(ORIGIN_ENV, RELEASE_ORIGIN)
    if "://" not in origin:
        raise DownloadError(
            f"{ORIGIN_ENV}={origin!r} is not a URL; for a folder write "
            f"{ORIGIN_ENV}=file://{os.path.abspath(origin)}."
        )
    url = release_url(release, variant, origin)
    name = f".npz checkpoint of {release} Mixer-{variant}"
    kind = FileKind(name, b"PK\x03\x04", _release_check(release, variant))
    try:
        return cached_download(url, path, RELEASES[release].sha256.get(variant), kind)
    except DownloadError as error:
        raise DownloadError(
            f"Could not fetch {release} Mixer-{variant}: {error} Without network access, "
            "download the file elsewhere and pass its path as weights=."
        ) from None


def read_official(path: str, label: str | None = None) -> Checkpoint:
    """An official ``.npz`` (``label`` names it in messages)."""
    params = _read_npz(path)
    # Some exports nest everything under "params/" or "target/".
    for prefix in ("params/", "target/"):
        if params and all(k.startswith(prefix) for k in params):
            params = {k[len(prefix) :]: v for k, v in params.items()}
    return Checkpoint(params, "official", label or path, {})


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: np.asarray(archive[key]) for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"Weights {path!r}: unreadable or truncated .npz ({error}).") from error


def _release_check(release, variant):
    """A check that a file is a whole ``.npz`` whose arrays have the official
    keys and the shapes of ``variant`` with ``release``'s head."""

    def check(path):
        sizes, classes = presets.VARIANTS[variant], RELEASES[release].classes
        params = read_official(path).params
        p, hidden = sizes.patch_size, sizes.hidden_size
        expected = {
            "stem/kernel": (p, p, 3, hidden),
            "MixerBlock_0/channel_mixing/Dense_0/kernel": (hidden, sizes.channels_mlp_dim),
            f"MixerBlock_{sizes.num_blocks - 1}/LayerNorm_0/scale": (hidden,),
            "head/kernel": (hidden, classes),
        }
        for key, shape in expected.items():
            found = params[key].shape if key in params else None
            if found != shape:
                raise ValueError(f"{key} has shape {found}, expected {shape}")
        if f"MixerBlock_{sizes.num_blocks}/LayerNorm_0/scale" in params:
            raise ValueError(f"more than the variant's {sizes.num_blocks} blocks")

    return check
