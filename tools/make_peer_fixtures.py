"""Writes tests/data/peers/: tiny Mixers made by the peer implementations
themselves, with inputs and the outputs the peers computed, so the default
test suite checks our loaders against the real thing (a few KB, committed).

- timm (PyTorch): ``timm.models.mlp_mixer.MlpMixer`` with random weights,
  saved as ``timm_mixer.safetensors`` and ``timm_mixer.pth`` (its state_dict);
- the official Flax model (google-research/vision_transformer,
  ``vit_jax/models_mixer.py``, read from ``--official``: a checkout's file,
  not copied here) with random parameters, saved flat as the releases are
  (``official_mixer.npz``, '/'-joined keys);

each with ``<peer>_inputs.npy`` (NHWC, in [-1, 1]) and ``<peer>_outputs.npy``
(the logits), and ``peers.json`` saying what made them. Both peers: 16x16
images, patch 4 (16 tokens), hidden 16, token MLP 8, channel MLP 32, 2
blocks, 5 classes. Run it where torch, timm, jax and flax are installed (not
beside TensorFlow; the tests need none of them):

    python tools/make_peer_fixtures.py --official vision_transformer/vit_jax/models_mixer.py
"""

import argparse
import hashlib
import importlib.util
import json
import os
import types

import numpy as np

OUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "peers"
)
SIZES = {
    "image": 16,
    "patch": 4,
    "hidden": 16,
    "tokens_mlp": 8,
    "channels_mlp": 32,
    "blocks": 2,
    "classes": 5,
}
# Random weights of std 0.3, the stem's of STEM_STD: the first LayerNorm then
# sees token variances near 1e-4, where its epsilon (1e-6) shows in the outputs.
WEIGHT_STD, STEM_STD = 0.3, 0.003


def random_like(rng, name, shape):
    return rng.normal(0, STEM_STD if "stem" in name else WEIGHT_STD, shape).astype(np.float32)


def timm_fixture(rng):
    import timm
    import torch
    from safetensors.torch import save_file

    peer = timm.models.mlp_mixer.MlpMixer(
        num_classes=SIZES["classes"],
        img_size=SIZES["image"],
        patch_size=SIZES["patch"],
        num_blocks=SIZES["blocks"],
        embed_dim=SIZES["hidden"],
        mlp_ratio=(SIZES["tokens_mlp"] / SIZES["hidden"], SIZES["channels_mlp"] / SIZES["hidden"]),
    ).eval()
    with torch.no_grad():
        for name, parameter in peer.named_parameters():
            parameter.copy_(torch.from_numpy(random_like(rng, name, parameter.shape)))
        inputs = rng.uniform(-1, 1, (3, SIZES["image"], SIZES["image"], 3)).astype(np.float32)
        outputs = peer(torch.from_numpy(inputs).permute(0, 3, 1, 2)).numpy()
    state = {key: value.contiguous() for key, value in peer.state_dict().items()}
    save_file(state, os.path.join(OUT, "timm_mixer.safetensors"))
    torch.save(state, os.path.join(OUT, "timm_mixer.pth"))
    np.save(os.path.join(OUT, "timm_inputs.npy"), inputs)
    np.save(os.path.join(OUT, "timm_outputs.npy"), outputs)
    return {"timm": timm.__version__, "torch": torch.__version__}


def official_fixture(rng, path):
    import flax
    import jax

    spec = importlib.util.spec_from_file_location("models_mixer", path)
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    patch = SIZES["patch"]
    peer = official.MlpMixer(
        patches=types.SimpleNamespace(size=(patch, patch)),
        num_classes=SIZES["classes"],
        num_blocks=SIZES["blocks"],
        hidden_dim=SIZES["hidden"],
        tokens_mlp_dim=SIZES["tokens_mlp"],
        channels_mlp_dim=SIZES["channels_mlp"],
    )
    inputs = rng.uniform(-1, 1, (3, SIZES["image"], SIZES["image"], 3)).astype(np.float32)
    shapes = peer.init(jax.random.PRNGKey(0), inputs, train=False)["params"]
    params = jax.tree_util.tree_map_with_path(  # the head too: the official init zeroes it
        lambda path, leaf: random_like(rng, jax.tree_util.keystr(path), leaf.shape), shapes
    )
    outputs = np.asarray(peer.apply({"params": params}, inputs, train=False))
    flat = {
        "/".join(key): np.asarray(value)
        for key, value in flax.traverse_util.flatten_dict(params).items()
    }
    np.savez(os.path.join(OUT, "official_mixer.npz"), **flat)
    np.save(os.path.join(OUT, "official_inputs.npy"), inputs)
    np.save(os.path.join(OUT, "official_outputs.npy"), outputs)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {
        "jax": jax.__version__,
        "flax": flax.__version__,
        "official_code": {"file": os.path.basename(path), "sha256": digest},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--official",
        required=True,
        help="vit_jax/models_mixer.py of a google-research/vision_transformer checkout",
    )
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(0)
    made = {"sizes": SIZES, **timm_fixture(rng), **official_fixture(rng, args.official)}
    with open(os.path.join(OUT, "peers.json"), "w") as f:
        json.dump(made, f, indent=2)
    print(f"wrote {sorted(os.listdir(OUT))} into {OUT}")


if __name__ == "__main__":
    main()
