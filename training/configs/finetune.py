"""Fine-tune a pretrained Mixer on a TFDS dataset (paper, Appendix B).

SGD with momentum 0.9, cosine schedule with warm-up, global-norm clipping at 1,
no weight decay, batch 512. The ImageNet-21k B/16 head (21,843 classes) is
replaced by a zero-initialised one for the dataset's classes; another input
size adapts the token-mixing weights (see keras_mixer.weights).
Override the dataset with --set data.dataset=tfds:NAME.
"""


def get_config() -> dict:
    return {
        "model": {"variant": "B/16", "weights": "imagenet21k"},
        "data": {"dataset": "tfds:cifar10", "val_split": "test", "image_size": 224},
        "train": {"epochs": 5, "batch_size": 512},
        "optimizer": {
            "name": "sgd",
            "learning_rate": 0.03,
            "momentum": 0.9,
            "weight_decay": 0.0,
            "global_clipnorm": 1.0,
            "warmup_steps": 500,
            "decay": "cosine",
        },
    }
