"""TFLite model metadata: what MediaPipe Tasks, the Task Library and our app read.

A model with metadata carries a ``TFLITE_METADATA`` buffer (a ModelMetadata
flatbuffer: name, description, the input's image properties and
normalisation, the output's label file) and, appended after the flatbuffer, a
zip archive holding the associated files (``labels.txt``). The flatbuffer
classes are the ones generated from the official schemas that ship with
MediaPipe; MediaPipe's own writer needs a compiled extension its wheels lack.
"""

import io
import zipfile

import flatbuffers
from mediapipe.tasks.metadata import metadata_schema_py_generated as meta
from mediapipe.tasks.metadata import schema_py_generated as schema

METADATA_NAME = b"TFLITE_METADATA"
# Every field written here exists since metadata schema 1.0.0.
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"


def add_metadata(flatbuffer, name, description, labels, logits=False, mean=0.0, std=1.0,
                 version="1"):
    """``flatbuffer`` (a single-input image classifier) with metadata and labels.

    ``logits``: the output is class logits (softmax left to the app), not
    probabilities.

    ``mean``/``std``: the normalisation a float input expects
    (``(pixel - mean) / std``); our models take raw pixels, hence 0 and 1.
    """
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    outputs = model.subgraphs[0].outputs
    classes = int(model.subgraphs[0].tensors[outputs[0]].shape[-1])
    if len(labels) != classes:
        raise ValueError(f"{len(labels)} labels for a model with {classes} outputs.")

    image = meta.TensorMetadataT()
    image.name, image.description = "image", "RGB image, raw pixel values 0-255."
    image.content = _content(meta.ContentProperties.ImageProperties, meta.ImagePropertiesT())
    image.content.contentProperties.colorSpace = meta.ColorSpaceType.RGB
    normalisation = meta.ProcessUnitT()
    normalisation.optionsType = meta.ProcessUnitOptions.NormalizationOptions
    normalisation.options = meta.NormalizationOptionsT()
    normalisation.options.mean, normalisation.options.std = [mean], [std]
    image.processUnits = [normalisation]
    image.stats = _stats(0.0, 255.0)

    scores = meta.TensorMetadataT()
    if logits:
        scores.name, scores.description = "logits", "Class logits: apply softmax for probabilities."
    else:
        scores.name, scores.description = "probability", "Probability of each class."
        scores.stats = _stats(0.0, 1.0)
    scores.content = _content(meta.ContentProperties.FeatureProperties,
                              meta.FeaturePropertiesT())
    label_file = meta.AssociatedFileT()
    label_file.name, label_file.description = LABELS_FILE, "Class names, one per line."
    label_file.type = meta.AssociatedFileType.TENSOR_AXIS_LABELS
    scores.associatedFiles = [label_file]

    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata, subgraph.outputTensorMetadata = [image], [scores]
    info = meta.ModelMetadataT()
    info.name, info.description, info.version = name, description, version
    info.author, info.minParserVersion = "keras-mixer", MIN_PARSER_VERSION
    info.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(info.Pack(builder), b"M001")

    buffer = schema.BufferT()
    buffer.data = list(builder.Output())
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
    return packed.getvalue()


def read_metadata(flatbuffer):
    """{"name", "description", "labels", "mean", "std", "output"} of a model with
    metadata ("output": "probability" or "logits")."""
    model = schema.Model.GetRootAs(flatbuffer, 0)
    for i in range(model.MetadataLength()):
        if model.Metadata(i).Name() == METADATA_NAME:
            data = model.Buffers(model.Metadata(i).Buffer()).DataAsNumpy().tobytes()
            break
    else:
        raise ValueError("The model has no TFLite metadata.")
    info = meta.ModelMetadataT.InitFromPackedBuf(bytearray(data), 0)
    image = info.subgraphMetadata[0].inputTensorMetadata[0]
    options = image.processUnits[0].options
    with zipfile.ZipFile(io.BytesIO(flatbuffer)) as archive:
        labels = archive.read(LABELS_FILE).decode().splitlines()
    return {"name": info.name.decode(), "description": info.description.decode(),
            "labels": labels, "mean": [float(v) for v in options.mean],
            "std": [float(v) for v in options.std],
            "output": info.subgraphMetadata[0].outputTensorMetadata[0].name.decode()}


def _content(kind, properties):
    content = meta.ContentT()
    content.contentPropertiesType, content.contentProperties = kind, properties
    return content


def _stats(low, high):
    stats = meta.StatsT()
    stats.min, stats.max = [low], [high]
    return stats
