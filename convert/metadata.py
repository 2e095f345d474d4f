"""TFLite model metadata: what MediaPipe Tasks, the Task Library and our app read.

A model with metadata carries a ``TFLITE_METADATA`` buffer (a ModelMetadata
flatbuffer, schema ``metadata_schema.fbs`` of tflite-support/MediaPipe:
name, description, the input's image properties and normalisation, the
output's label file) and, appended after the model, a zip archive holding the
associated files (``labels.txt``).

The ModelMetadata tables are written and read here field by field (slot
numbers from the schema): the packages that ship generated code for that
schema (tflite-support, MediaPipe) pin versions of protobuf or absl-py that
TensorFlow or TFMOT cannot live with. The model itself is handled with the
schema classes LiteRT ships.
"""

from __future__ import annotations

import io
import json
import zipfile

import flatbuffers
from ai_edge_litert import schema_py_generated as schema
from flatbuffers import encode, number_types, table

METADATA_NAME = b"TFLITE_METADATA"
# Every field written here exists since metadata schema 1.0.0.
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"
# How the model's images are prepared (ours: the schema has no field for a
# crop): {"eval_crop": fraction kept, "resize_method": "bilinear", ...}.
PREPROCESSING_FILE = "preprocessing.json"
# Enum and union values of metadata_schema.fbs.
TENSOR_AXIS_LABELS, RGB = 2, 1
FEATURE_PROPERTIES, IMAGE_PROPERTIES = 1, 2  # union ContentProperties
NORMALIZATION_OPTIONS = 1  # union ProcessUnitOptions


def add_metadata(
    flatbuffer: bytes,
    name: str,
    description: str,
    labels: list[str],
    logits: bool = False,
    mean: float = 0.0,
    std: float = 1.0,
    version: str = "1",
    preprocessing: dict | None = None,
) -> bytes:
    """``flatbuffer`` (a single-input image classifier) with metadata and labels.

    ``logits``: the output is class logits (softmax left to the app), not
    probabilities. ``mean``/``std``: the normalisation a float input expects
    (``(pixel - mean) / std``); our models take raw pixels, hence 0 and 1.
    ``preprocessing``: written as ``PREPROCESSING_FILE`` beside the labels,
    for the apps (``convert.golden`` says how they use it).
    """
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    outputs = model.subgraphs[0].outputs
    classes = int(model.subgraphs[0].tensors[outputs[0]].shape[-1])
    if len(labels) != classes:
        raise ValueError(f"{len(labels)} labels for a model with {classes} outputs.")

    buffer = schema.BufferT()
    buffer.data = list(
        _model_metadata(name, description, logits, mean, std, version, preprocessing is not None)
    )
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME] + [entry]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"TFL3")

    packed = io.BytesIO(bytes(builder.Output()))
    packed.seek(0, io.SEEK_END)
    with zipfile.ZipFile(packed, "a") as archive:
        archive.writestr(LABELS_FILE, "".join(f"{label}\n" for label in labels))
        if preprocessing is not None:
            archive.writestr(PREPROCESSING_FILE, json.dumps(preprocessing, sort_keys=True))
    return packed.getvalue()


def read_metadata(flatbuffer: bytes) -> dict:
    """{"name", "description", "labels", "mean", "std", "output"} of a model with
    metadata ("output": the output tensor's name, "probability" or "logits")."""
    model = schema.Model.GetRootAs(flatbuffer, 0)
    for i in range(model.MetadataLength()):
        if model.Metadata(i).Name() == METADATA_NAME:
            data = model.Buffers(model.Metadata(i).Buffer()).DataAsNumpy().tobytes()
            break
    else:
        raise ValueError("The model has no TFLite metadata.")
    info = _Table.root(data)
    subgraph = info.tables(3)[0]
    options = subgraph.tables(2)[0].tables(4)[0].table(1)  # input -> process unit -> options
    with zipfile.ZipFile(io.BytesIO(flatbuffer)) as archive:
        labels = archive.read(LABELS_FILE).decode().splitlines()
        preprocessing = None
        if PREPROCESSING_FILE in archive.namelist():
            preprocessing = json.loads(archive.read(PREPROCESSING_FILE))
    return {
        "name": info.string(0),
        "description": info.string(1),
        "labels": labels,
        "mean": options.floats(0),
        "std": options.floats(1),
        "output": subgraph.tables(3)[0].string(0),
        "preprocessing": preprocessing,
    }


# ------------------------------------------------------------------ writing


def _model_metadata(name, description, logits, mean, std, version, preprocessing=False):
    """The ModelMetadata flatbuffer (file identifier M001)."""
    b = flatbuffers.Builder(1024)
    image_properties = _table(b, [("byte", RGB)])  # ImageProperties
    image_content = _table(b, [("byte", IMAGE_PROPERTIES), ("ref", image_properties)])
    normalisation = _table(b, [("ref", _floats(b, [mean])), ("ref", _floats(b, [std]))])
    process_unit = _table(b, [("byte", NORMALIZATION_OPTIONS), ("ref", normalisation)])
    image = _table(
        b,
        [  # TensorMetadata
            ("ref", b.CreateString("image")),
            ("ref", b.CreateString("RGB image, raw pixel values 0-255.")),
            None,
            ("ref", image_content),
            ("ref", _refs(b, [process_unit])),
            ("ref", _stats(b, 0.0, 255.0)),
        ],
    )

    label_file = _table(
        b,
        [  # AssociatedFile
            ("ref", b.CreateString(LABELS_FILE)),
            ("ref", b.CreateString("Class names, one per line.")),
            ("byte", TENSOR_AXIS_LABELS),
        ],
    )
    feature_content = _table(b, [("byte", FEATURE_PROPERTIES), ("ref", _table(b, []))])
    if logits:
        text, stats = ("logits", "Class logits: apply softmax for probabilities."), None
    else:
        text, stats = ("probability", "Probability of each class."), _stats(b, 0.0, 1.0)
    scores = _table(
        b,
        [
            ("ref", b.CreateString(text[0])),
            ("ref", b.CreateString(text[1])),
            None,
            ("ref", feature_content),
            None,
            stats and ("ref", stats),
            ("ref", _refs(b, [label_file])),
        ],
    )

    subgraph = _table(
        b,
        [
            None,
            None,
            ("ref", _refs(b, [image])),  # SubGraphMetadata
            ("ref", _refs(b, [scores])),
        ],
    )
    model_files = None
    if preprocessing:
        model_files = (
            "ref",
            _refs(
                b,
                [
                    _table(
                        b,
                        [
                            ("ref", b.CreateString(PREPROCESSING_FILE)),
                            (
                                "ref",
                                b.CreateString("How images are prepared: evaluation crop, resize."),
                            ),
                        ],
                    )
                ],
            ),
        )
    root = _table(
        b,
        [  # ModelMetadata
            ("ref", b.CreateString(name)),
            ("ref", b.CreateString(description)),
            ("ref", b.CreateString(version)),
            ("ref", _refs(b, [subgraph])),
            ("ref", b.CreateString("keras-mixer")),
            None,
            model_files,
            ("ref", b.CreateString(MIN_PARSER_VERSION)),
        ],
    )
    b.Finish(root, b"M001")
    return b.Output()


def _table(b, fields):
    """A table from (kind, value) per slot in order (None: field absent);
    every referenced object must already be built."""
    b.StartObject(len(fields))
    for slot, field in enumerate(fields):
        if field is None:
            continue
        kind, value = field
        if kind == "ref":
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
        else:
            b.PrependUint8Slot(slot, value, 0)
    return b.EndObject()


def _refs(b, offsets):
    b.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _floats(b, values):
    b.StartVector(4, len(values), 4)
    for value in reversed(values):
        b.PrependFloat32(float(value))
    return b.EndVector()


def _stats(b, low, high):
    return _table(b, [("ref", _floats(b, [high])), ("ref", _floats(b, [low]))])  # max, min


# ------------------------------------------------------------------ reading


class _Table:
    """Field access by slot number on a flatbuffer table."""

    def __init__(self, buf, pos):
        self._t = table.Table(buf, pos)

    @classmethod
    def root(cls, buf):
        return cls(buf, encode.Get(number_types.UOffsetTFlags.packer_type, buf, 0))

    def _offset(self, slot):
        return self._t.Offset(4 + 2 * slot)

    def string(self, slot):
        o = self._offset(slot)
        return self._t.String(o + self._t.Pos).decode() if o else None

    def table(self, slot):
        o = self._offset(slot)
        return _Table(self._t.Bytes, self._t.Indirect(o + self._t.Pos)) if o else None

    def tables(self, slot):
        o = self._offset(slot)
        if not o:
            return []
        start = self._t.Vector(o)
        return [
            _Table(self._t.Bytes, self._t.Indirect(start + 4 * i))
            for i in range(self._t.VectorLen(o))
        ]

    def floats(self, slot):
        o = self._offset(slot)
        if not o:
            return []
        start = self._t.Vector(o)
        return [
            self._t.Get(number_types.Float32Flags, start + 4 * i)
            for i in range(self._t.VectorLen(o))
        ]


def with_metadata(
    flatbuffer: bytes, spec: dict, options, class_names: list, logits: bool, kind: str
) -> bytes:
    """Stage metadata: ``flatbuffer`` with a conversion's metadata - the
    model's name and description, ``class_names`` as labels, the output kind
    and the evaluation preprocessing of ``options.data`` (a
    ``convert.options.ConvertOptions``) - so an app prepares images as the
    conversion scored them."""
    data = options.data.config
    if getattr(options, "logits", "int8") != "int8":
        kind = f"{kind} with {options.logits} logits"
    return add_metadata(
        flatbuffer,
        name=spec["name"],
        labels=class_names,
        logits=logits,
        description=f"MLP-Mixer (patch {spec['patch_size']}, hidden {spec['hidden_size']}, "
        f"{spec['num_blocks']} blocks) for {options.dataset}, {kind} TFLite by "
        "keras-mixer. Input: RGB pixels 0-255.",
        preprocessing={"eval_crop": data["eval_crop"], "resize_method": data["resize_method"]},
    )
