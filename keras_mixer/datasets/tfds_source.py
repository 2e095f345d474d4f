"""TFDS datasets (``tfds:NAME[:SPLIT]``): read, prepared when they can be,
refused in one line when they cannot. TFDS is imported only here, on first use."""

from __future__ import annotations

import contextlib
import difflib
import socket

from keras_mixer.datasets.settings import DataError
from keras_mixer.datasets.split import Split

# Where TFDS downloads from first (its GCS mirror). When it does not answer,
# a data set that must be downloaded fails at once instead of after minutes
# of TFDS's retries (data sets built locally are not affected).
NETWORK_PROBE = ("storage.googleapis.com", 443)


def read_tfds_split(name, split, role, data_dir, shuffle_files):
    import tensorflow_datasets as tfds

    _check_tfds_name(tfds, name)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # DatasetNotFoundError and friends
        raise DataError(f"TFDS dataset {name!r}: {' '.join(str(error).split())[:300]}") from error
    with _quiet(tfds):  # it warns that the folder the builder made has no dataset yet
        online = builder.is_prepared() or _online()
    try:
        with _retries(None if online else 0), _quiet(tfds, not online):
            builder.download_and_prepare()
    except Exception as error:
        where = "" if online else f" (this machine is offline: {NETWORK_PROBE[0]} did not answer)"
        raise DataError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir} and downloading it "
            f"failed{where}: {type(error).__name__}: {' '.join(str(error).split())[:300]}. "
            "Prepare it on a machine with network access and pass its data_dir."
        ) from error
    available = list(builder.info.splits.keys())
    if available and split.split("[")[0] not in available:
        if role == "val" and "test" in available:
            split = "test"
        else:
            raise DataError(
                f"TFDS dataset {name!r} has no split {split!r}; it has {', '.join(available)}."
            )
    label = builder.info.features["label"]
    examples = builder.as_dataset(split=split, as_supervised=True, shuffle_files=shuffle_files)
    if split in builder.info.splits:
        size = builder.info.splits[split].num_examples
    else:  # split slices ("train[:90%]"), or metadata-less mocks
        size = examples.reduce(0, lambda count, _: count + 1)
    return Split(examples, int(size), list(label.names))


def _check_tfds_name(tfds, name):
    """Refuses a name TFDS does not know, suggesting the closest it does."""
    base = name.split("/")[0].split(":")[0]
    known = tfds.list_builders(with_community_datasets=False)
    if base not in known:
        close = difflib.get_close_matches(base, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise DataError(
            f"TFDS has no dataset {base!r}{hint} (tfds.list_builders() lists all {len(known)})."
        )


@contextlib.contextmanager
def _retries(count):
    """TFDS's download retries set to ``count`` for the block (None: as they are)."""
    from tensorflow_datasets.core.download import downloader

    before = downloader.MAX_RETRIES
    downloader.MAX_RETRIES = before if count is None else count
    try:
        yield
    finally:
        downloader.MAX_RETRIES = before


@contextlib.contextmanager
def _quiet(tfds, enabled=True):
    """TFDS's progress bars and warnings off for the block when ``enabled``
    (an offline attempt: its empty bars would bury the one-line error)."""
    if not enabled:
        yield
        return
    import logging

    absl = logging.getLogger("absl")
    level = absl.level
    tfds.display_progress_bar(False)
    absl.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl.setLevel(level)
        tfds.display_progress_bar(True)


def _online(timeout=5.0):
    try:
        socket.create_connection(NETWORK_PROBE, timeout=timeout).close()
        return True
    except OSError:
        return False
