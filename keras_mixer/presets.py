"""Every Mixer variant and every released checkpoint: the one place to add either.

The variants are the paper's Table 1 (Tolstikhin et al., 2021) and S/8,
which the official repository publishes as a checkpoint only. The releases
are the official checkpoints of google-research/vision_transformer, one
``.npz`` per variant under ``{RELEASE_ORIGIN}/{release}/Mixer-{B_16}.npz``.
The constructors (``keras_mixer.models``) and the weight loader
(``keras_mixer.weights``) both read these tables.
"""

from __future__ import annotations

import dataclasses

from keras_mixer.preprocessing import ImagePreprocessing


@dataclasses.dataclass(frozen=True)
class Variant:
    """The sizes of a Mixer variant; ``params_millions`` as Table 1 gives
    them (without the head; None where Table 1 has no row)."""

    patch_size: int
    hidden_size: int
    num_blocks: int
    tokens_mlp_dim: int
    channels_mlp_dim: int
    params_millions: int | None = None

    @property
    def sizes(self) -> dict[str, int]:
        """The five size arguments of ``keras_mixer.MlpMixer``."""
        return {field: getattr(self, field) for field in SIZE_FIELDS}


SIZE_FIELDS = ("patch_size", "hidden_size", "num_blocks", "tokens_mlp_dim", "channels_mlp_dim")

VARIANTS = {
    "S/32": Variant(32, 512, 8, 256, 2048, params_millions=19),
    "S/16": Variant(16, 512, 8, 256, 2048, params_millions=18),
    "B/32": Variant(32, 768, 12, 384, 3072, params_millions=60),
    "B/16": Variant(16, 768, 12, 384, 3072, params_millions=59),
    "L/32": Variant(32, 1024, 24, 512, 4096, params_millions=206),
    "L/16": Variant(16, 1024, 24, 512, 4096, params_millions=207),
    "H/14": Variant(14, 1280, 32, 640, 5120, params_millions=431),
    "S/8": Variant(8, 512, 8, 256, 2048),  # released (gsam), not in Table 1
}


# How the releases' publisher evaluates them (google-research/vision_transformer,
# vit_jax/input_pipeline.py and vit_jax/preprocess.py): the whole image resized
# (bilinear) to the model's size, pixels scaled to [-1, 1]. vit_jax stretches a
# non-square image to the square; keras-mixer keeps the aspect ratio and crops
# the longer side's excess (docs/models.md).
VIT_JAX_EVALUATION = ImagePreprocessing(
    eval_crop=1.0,
    resize_method="bilinear",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    source="vit_jax's evaluation of the official checkpoints (whole image, bilinear, [-1, 1])",
)


@dataclasses.dataclass(frozen=True)
class Release:
    """An official checkpoint set: the variants published in it, the class
    count of their heads, what they were trained on, how its publisher
    evaluates images, and the SHA-256 of each file where known (others are
    trusted on first download and recorded in the cache:
    ``keras_mixer.download``)."""

    variants: tuple[str, ...]
    classes: int
    trained_on: str
    preprocessing: ImagePreprocessing
    sha256: dict[str, str] = dataclasses.field(default_factory=dict)
    licence: str = (
        "published with google-research/vision_transformer (Apache-2.0); "
        "its README states the checkpoints' terms"
    )

    def file_name(self, variant: str) -> str:
        return f"Mixer-{variant.replace('/', '_')}.npz"


RELEASE_ORIGIN = "https://storage.googleapis.com/mixer_models"
ORIGIN_ENV = "KERAS_MIXER_WEIGHTS_ORIGIN"  # another base URL, e.g. a mirror or file://

RELEASES = {
    "imagenet1k": Release(
        ("B/16", "L/16"),
        1000,
        "ImageNet-21k pre-training, fine-tuned on ImageNet-1k",
        VIT_JAX_EVALUATION,
    ),
    "imagenet21k": Release(
        ("B/16", "L/16"), 21843, "ImageNet-21k pre-training", VIT_JAX_EVALUATION
    ),
    "sam": Release(
        ("B/16", "B/32"), 1000, "ImageNet-1k with the SAM optimiser", VIT_JAX_EVALUATION
    ),
    "gsam": Release(
        ("S/8", "S/16", "S/32", "B/16", "B/32"),
        1000,
        "ImageNet-1k with the GSAM optimiser",
        VIT_JAX_EVALUATION,
    ),
}


# Published ImageNet top-1 (%), never measured here (for model cards and
# ``convert compare --variants``): (variant, release, or None for the
# paper's training from scratch) -> (top-1, source). Tolstikhin et al., 2021.
PUBLISHED_TOP1 = {
    ("B/16", None): (76.44, "paper: ImageNet-1k from scratch"),
    ("B/16", "imagenet1k"): (80.64, "paper: ImageNet-21k pre-training, ImageNet-1k fine-tuning"),
    ("L/16", "imagenet1k"): (82.89, "paper: ImageNet-21k pre-training, ImageNet-1k fine-tuning"),
    ("H/14", None): (86.32, "paper: JFT-300M pre-training"),
}


def release_url(release: str, variant: str, origin: str = RELEASE_ORIGIN) -> str:
    """Where ``release``'s file of ``variant`` is published (under ``origin``)."""
    return f"{origin.rstrip('/')}/{release}/{RELEASES[release].file_name(variant)}"


def variant_named(
    patch_size: int, hidden_size: int, num_blocks: int, channels_mlp_dim: int
) -> str | None:
    """The variant with these sizes, or None. The token-MLP width is not
    compared: it grows with the resolution (``keras_mixer.weights``)."""
    for name, variant in VARIANTS.items():
        if (
            variant.patch_size,
            variant.hidden_size,
            variant.num_blocks,
            variant.channels_mlp_dim,
        ) == (patch_size, hidden_size, num_blocks, channels_mlp_dim):
            return name
    return None
