"""Reading the IDX files flowps trains on (Fashion-MNIST, MNIST) into numpy arrays."""
import gzip
import os

import numpy as np

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx(path, feeds, batch_size=64, shuffle=True, seed=0):
    """The data of a job (flowps.Job): an MNIST-style folder whose columns
    "features" and "label" feed the placeholders in ``feeds`` ({placeholder: column})."""
    from .job import IdxData
    return IdxData(path, feeds, batch_size, shuffle, seed)


def libsvm(train, test, feeds, batch_size=64, shuffle=True, seed=0):
    """The data of a job (flowps.Job): libsvm files (``flowps data synth-ctr``
    writes a click log so) whose columns "label", "ids" and "offsets" feed the
    placeholders in ``feeds`` ({placeholder: column}); embedding tables take
    the ids column themselves (fp.embedding_lookup)."""
    from .job import LibsvmData
    return LibsvmData(train, test, feeds, batch_size, shuffle, seed)


def text(train, feeds, sequence_length, test=None, batch_size=32, shuffle=True, seed=0, contiguous=False):
    """The data of a job (flowps.Job): UTF-8 text files (``train`` and ``test``
    each a file, a folder or a glob) as byte sequences of ``sequence_length``
    whose columns "tokens" and "targets" (the next bytes) feed the placeholders
    in ``feeds`` ({placeholder: column}). ``contiguous``: row b of each batch
    continues the text of row b of the batch before (data.contiguous, no
    shuffling), for a job whose graph carries recurrent state (Job(states=...))."""
    from .job import TextData
    return TextData(train, feeds, sequence_length, test, batch_size, shuffle, seed, contiguous)


def read_idx(path):
    """The array in an IDX file (gzipped when the name ends in .gz)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file")
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    want = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * rank:]
    if len(body) != want:
        raise ValueError(f"{path}: {len(body)} bytes of data, the header {dims} needs {want}")
    return np.frombuffer(body, dtype).reshape(dims)


def _find(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{directory}: no {stem} or {stem}.gz")


def image_classes(directory, split="train"):
    """(images float32 [N, 784] in [0, 1], labels int32 [N]) of an MNIST-style
    folder: split "train" or "t10k"; the columns "features" and "label"."""
    images = read_idx(_find(directory, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_find(directory, f"{split}-labels-idx1-ubyte"))
    return images.reshape(len(images), -1).astype(np.float32) / 255, labels.astype(np.int32)
