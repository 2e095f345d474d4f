"""Mixer-B/16 on ImageNet-1k from scratch: the paper's recipe (Appendix B, Table 4).

Adam(W) b1 0.9, b2 0.999; 10k warm-up steps then linear decay; batch 4096;
weight decay 0.1; global-norm clipping at 1; RandAugment 2 layers (the paper:
magnitude 15); mixup 0.5; stochastic depth 0.1; dropout off; 224x224.
The paper reports 76.44% top-1 for this setting (300 epochs).
Needs the ImageNet TFDS files prepared under data_dir (manual download).
"""


def get_config() -> dict:
    return {
        "model": {"variant": "B/16", "drop_path_rate": 0.1},
        "data": {"dataset": "tfds:imagenet2012", "val_split": "validation", "image_size": 224},
        "train": {
            "epochs": 300,
            "batch_size": 4096,
            "label_smoothing": 0.1,
            "mixup_alpha": 0.5,
            "randaugment_ops": 2,
            "randaugment_factor": 0.5,
        },
        "optimizer": {
            "name": "adamw",
            "learning_rate": 1e-3,
            "weight_decay": 0.1,
            "global_clipnorm": 1.0,
            "warmup_steps": 10_000,
            "decay": "linear",
        },
    }
