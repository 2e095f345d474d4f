package com.kerasmixer.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The few TFLite metadata fields the app needs, read straight from the model's flatbuffers
 * (schema.fbs: Model.metadata/buffers; metadata_schema.fbs: ModelMetadata): the model's name,
 * whether its output holds logits (our XNNPACK graph leaves the softmax to the app) or
 * probabilities, and the evaluation crop {@code convert} writes in {@code preprocessing.json}
 * (1 when the model has none). Labels come from {@link Labels#fromModel}.
 */
public final class ModelMetadata {
    public static final String PREPROCESSING_FILE = "preprocessing.json";
    private static final Pattern EVAL_CROP =
            Pattern.compile("\"eval_crop\"\\s*:\\s*([0-9.eE+-]+)");

    public final String name;
    public final String outputName;
    /** The share of the resized image's shorter side the model was evaluated on. */
    public final float evalCrop;

    private ModelMetadata(String name, String outputName, float evalCrop) {
        this.name = name;
        this.outputName = outputName;
        this.evalCrop = evalCrop;
    }

    /** True when the scores need a softmax: the output tensor's metadata name is "logits". */
    public boolean outputIsLogits() {
        return "logits".equals(outputName);
    }

    public static ModelMetadata read(byte[] model) {
        ByteBuffer buf = ByteBuffer.wrap(model).order(ByteOrder.LITTLE_ENDIAN);
        int root = table(buf, 0);
        int metadata = field(buf, root, 6);
        int buffers = field(buf, root, 4);
        if (metadata == 0 || buffers == 0) {
            throw new IllegalArgumentException("The model has no TFLite metadata: convert it with "
                    + "`convert`, which embeds name, labels and normalisation.");
        }
        for (int i = 0; i < vectorLength(buf, metadata); i++) {
            int entry = vectorTable(buf, metadata, i);
            if ("TFLITE_METADATA".equals(string(buf, entry, 0))) {
                int bufferIndex = buf.getInt(field(buf, entry, 1));
                int data = field(buf, vectorTable(buf, buffers, bufferIndex), 0);
                int start = vector(buf, data);
                ByteBuffer info = ByteBuffer.wrap(model, start, vectorLength(buf, data)).slice()
                        .order(ByteOrder.LITTLE_ENDIAN);
                int modelMetadata = table(info, 0);
                int subgraph = vectorTable(info, field(info, modelMetadata, 3), 0);
                int output = vectorTable(info, field(info, subgraph, 3), 0);
                return new ModelMetadata(string(info, modelMetadata, 0), string(info, output, 0),
                        evalCrop(model));
            }
        }
        throw new IllegalArgumentException("The model's metadata has no TFLITE_METADATA entry.");
    }

    private static float evalCrop(byte[] model) {
        byte[] file = Labels.associatedFileOrNull(model, PREPROCESSING_FILE);
        if (file == null) {
            return 1f;
        }
        Matcher found = EVAL_CROP.matcher(new String(file, StandardCharsets.UTF_8));
        if (!found.find()) {
            throw new IllegalArgumentException(PREPROCESSING_FILE + " names no eval_crop.");
        }
        return Float.parseFloat(found.group(1));
    }

    // Flatbuffers: a table starts with an offset back to its vtable of field offsets;
    // references (tables, strings, vectors) are offsets from where they are stored.

    private static int table(ByteBuffer buf, int at) {
        return at + buf.getInt(at);
    }

    /** Position of field {@code slot} of the table at {@code table}, or 0 when absent. */
    private static int field(ByteBuffer buf, int table, int slot) {
        int vtable = table - buf.getInt(table);
        int entry = 4 + 2 * slot;
        if (entry >= (buf.getShort(vtable) & 0xffff)) {
            return 0;
        }
        int offset = buf.getShort(vtable + entry) & 0xffff;
        return offset == 0 ? 0 : table + offset;
    }

    private static int vector(ByteBuffer buf, int field) {
        return table(buf, field) + 4;
    }

    private static int vectorLength(ByteBuffer buf, int field) {
        return buf.getInt(table(buf, field));
    }

    private static int vectorTable(ByteBuffer buf, int field, int index) {
        return table(buf, vector(buf, field) + 4 * index);
    }

    private static String string(ByteBuffer buf, int table, int slot) {
        int at = field(buf, table, slot);
        if (at == 0) {
            return null;
        }
        int start = table(buf, at);
        byte[] bytes = new byte[buf.getInt(start)];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = buf.get(start + 4 + i);
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
