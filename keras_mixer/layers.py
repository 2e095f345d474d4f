"""The building blocks of MLP-Mixer as serialisable Keras 3 layers.

Layer and weight names follow the official implementation
(google-research/vision_transformer, ``vit_jax/models_mixer.py``), so a model's
weight paths read like the keys of the released checkpoints:
``stem/kernel``, ``MixerBlock_3/token_mixing/Dense_0/kernel``,
``MixerBlock_3/LayerNorm_1/gamma``, ...

Numerics follow the official code too: tanh-approximate GELU by default,
LayerNorm epsilon 1e-6, lecun_normal kernels and zero biases.
"""

import keras
from keras import layers, ops

LAYER_NORM_EPSILON = 1e-6
KERNEL_INITIALIZER = "lecun_normal"


@keras.saving.register_keras_serializable(package="keras_mixer")
class PatchEmbedding(layers.Layer):
    """The stem: a patch_size x patch_size convolution with stride patch_size,
    flattened row-major to ``(batch, tokens, hidden_size)``.

    Holds its own ``kernel`` (HWIO) and ``bias`` so the weight paths are
    ``stem/kernel`` and ``stem/bias`` as in the official checkpoints.
    ``image_preprocessing``: how the model's images are prepared (a
    ``keras_mixer.preprocessing.ImagePreprocessing`` config, or None), kept
    here so the ``.keras`` file carries it; the layer does not apply it.
    """

    def __init__(self, patch_size, hidden_size, image_preprocessing=None, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)
        self.hidden_size = int(hidden_size)
        self.image_preprocessing = image_preprocessing

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"PatchEmbedding expects images of shape (batch, height, width, "
                f"channels); got a {len(input_shape)}-D input {tuple(input_shape)}."
            )
        _, height, width, channels = input_shape
        self.grid_size = patch_grid((height, width), self.patch_size)
        p = self.patch_size
        self.kernel = self.add_weight(
            name="kernel",
            shape=(p, p, channels, self.hidden_size),
            initializer=KERNEL_INITIALIZER,
        )
        self.bias = self.add_weight(name="bias", shape=(self.hidden_size,), initializer="zeros")

    def call(self, images):
        x = ops.conv(
            images,
            self.kernel,
            strides=self.patch_size,
            padding="valid",
            data_format="channels_last",
        )
        x = x + self.bias
        num_tokens = self.grid_size[0] * self.grid_size[1]
        return ops.reshape(x, (-1, num_tokens, self.hidden_size))

    def compute_output_shape(self, input_shape):
        rows, cols = patch_grid(input_shape[1:3], self.patch_size)
        return (input_shape[0], rows * cols, self.hidden_size)

    def get_config(self):
        config = super().get_config()
        config.update(patch_size=self.patch_size, hidden_size=self.hidden_size)
        if self.image_preprocessing is not None:  # files without it stay as they were
            config["image_preprocessing"] = self.image_preprocessing
        return config


def patch_grid(image_size, patch_size):
    """(rows, cols) of patches for an image of ``image_size`` = (height, width).

    Raises ValueError naming the numbers when the size is unknown, smaller than
    one patch or not a multiple of the patch size.
    """
    grid = []
    for axis, size in zip(("height", "width"), image_size):
        if size is None:
            raise ValueError(
                f"MLP-Mixer needs a fixed input {axis}: token mixing has one "
                f"weight per token. Got input size {tuple(image_size)}."
            )
        if size < patch_size:
            raise ValueError(
                f"Input {axis} {size} is smaller than one patch ({patch_size} pixels)."
            )
        if size % patch_size:
            raise ValueError(
                f"Input {axis} {size} is not a multiple of the patch size "
                f"{patch_size} (nearest valid sizes: "
                f"{size // patch_size * patch_size} or "
                f"{(size // patch_size + 1) * patch_size})."
            )
        grid.append(size // patch_size)
    return tuple(grid)


@keras.saving.register_keras_serializable(package="keras_mixer")
class MlpBlock(layers.Layer):
    """Dense(mlp_dim) -> GELU -> Dense(back to the input width), along ``axis``.

    ``axis=-1`` mixes the features of each token (channel mixing). ``axis=-2``
    mixes along the second-to-last axis - the tokens of ``(batch, tokens,
    channels)`` - with the same weights a Dense would hold on the transposed
    input, computed as ``W.T @ x`` so no activation is transposed.
    """

    def __init__(self, mlp_dim, gelu_approximate=True, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, -2):
            raise ValueError(f"MlpBlock axis must be -1 or -2; got {axis}.")
        self.mlp_dim = int(mlp_dim)
        self.gelu_approximate = bool(gelu_approximate)
        self.axis = axis
        self.dense_0 = layers.Dense(
            self.mlp_dim, kernel_initializer=KERNEL_INITIALIZER, name="Dense_0"
        )
        self.dense_1 = None  # its width is the input's, known in build()

    def build(self, input_shape):
        width = input_shape[self.axis]
        self.dense_1 = layers.Dense(width, kernel_initializer=KERNEL_INITIALIZER, name="Dense_1")
        self.dense_0.build((None, width))
        self.dense_1.build((None, self.mlp_dim))

    def call(self, x):
        x = self._dense(self.dense_0, x)
        x = ops.gelu(x, approximate=self.gelu_approximate)
        return self._dense(self.dense_1, x)

    def _dense(self, dense, x):
        if self.axis == -1:
            return dense(x)
        return ops.matmul(ops.transpose(dense.kernel), x) + dense.bias[:, None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            mlp_dim=self.mlp_dim,
            gelu_approximate=self.gelu_approximate,
            axis=self.axis,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_mixer")
class DropPath(layers.Layer):
    """Stochastic depth: drops a residual branch for whole samples in training,
    scaling the kept ones by 1 / (1 - rate). The identity at inference."""

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1); got {rate}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask_shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        noise = keras.random.uniform(mask_shape, dtype=x.dtype, seed=self.seed_generator)
        return x * ops.floor(keep + noise) / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="keras_mixer")
class MixerBlock(layers.Layer):
    """One Mixer layer on ``(batch, tokens, channels)``:

        x = x + DropPath(T(MlpBlock_tokens(T(LayerNorm_0(x)))))   # token mixing
        x = x + DropPath(MlpBlock_channels(LayerNorm_1(x)))      # channel mixing

    where T swaps the token and channel axes. The token MLP runs along the
    token axis instead of between two transposes (same result, faster).
    """

    def __init__(
        self,
        tokens_mlp_dim,
        channels_mlp_dim,
        drop_path_rate=0.0,
        gelu_approximate=True,
        layer_norm_epsilon=LAYER_NORM_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.tokens_mlp_dim = int(tokens_mlp_dim)
        self.channels_mlp_dim = int(channels_mlp_dim)
        self.drop_path_rate = float(drop_path_rate)
        self.gelu_approximate = bool(gelu_approximate)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

        self.norm_0 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="LayerNorm_0")
        self.token_mixing = MlpBlock(
            self.tokens_mlp_dim, self.gelu_approximate, axis=-2, name="token_mixing"
        )
        self.norm_1 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="LayerNorm_1")
        self.channel_mixing = MlpBlock(
            self.channels_mlp_dim, self.gelu_approximate, name="channel_mixing"
        )
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path")

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"MixerBlock expects (batch, tokens, channels); got {tuple(input_shape)}."
            )
        self.norm_0.build(input_shape)
        self.token_mixing.build(input_shape)
        self.norm_1.build(input_shape)
        self.channel_mixing.build(input_shape)

    def call(self, x, training=False):
        y = self.token_mixing(self.norm_0(x))
        x = x + self.drop_path(y, training=training)
        y = self.norm_1(x)
        y = self.channel_mixing(y)
        return x + self.drop_path(y, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            tokens_mlp_dim=self.tokens_mlp_dim,
            channels_mlp_dim=self.channels_mlp_dim,
            drop_path_rate=self.drop_path_rate,
            gelu_approximate=self.gelu_approximate,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
