"""Writes keras_mixer/data/imagenet{1k,21k} label files (synset, WordNet lemmas).

Run once by a maintainer with timm installed (pip install -e .[bench]); the
class orders are those of the released heads: ImageNet-1k in sorted-synset
order, ImageNet-21k in the 21,843-class order of Google's checkpoints.
"""

import gzip
import os

import timm.data

INFO = os.path.join(os.path.dirname(timm.data.__file__), "_info")
OUT = os.path.join(os.path.dirname(__file__), "..", "keras_mixer", "data")


def read_lines(name):
    with open(os.path.join(INFO, name)) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def main():
    lemmas = dict(line.split("\t", 1) for line in read_lines("imagenet_synset_to_lemma.txt"))
    for out_name, synset_file, count in (
        ("imagenet1k.txt", "imagenet_synsets.txt", 1000),
        ("imagenet21k.txt.gz", "imagenet21k_goog_synsets.txt", 21843),
    ):
        synsets = read_lines(synset_file)
        assert len(synsets) == count, (synset_file, len(synsets))
        text = "".join(f"{s}\t{lemmas[s]}\n" for s in synsets)
        path = os.path.join(OUT, out_name)
        opener = gzip.open if out_name.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {path}: {len(synsets)} classes")


if __name__ == "__main__":
    main()
