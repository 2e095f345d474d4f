"""Official weights at another resolution: the token-mixing MLPs adapted to a
new token grid (the paper's Appendix C, and resampling)."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_mixer.weights.checkpoint import Checkpoint


def adapt_token_mixing(
    params: dict[str, np.ndarray],
    prefix: str,
    grid: tuple[int, int],
    mlp_dim: int,
    source: str = "checkpoint",
    source_grid: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
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


def tiled_token_mlp_dim(
    checkpoint: Checkpoint, grid: tuple[int, int], source_grid: tuple[int, int] | None = None
) -> int | None:
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
        values.astype(np.float32),
        grid,
        interpolation="bilinear",
        antialias=True,
        data_format="channels_last",
    )
    return np.asarray(keras.ops.convert_to_numpy(resized)).reshape(-1, values.shape[-1])
