package com.kerasmixer.core;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Class names: from a label file, or from a model file's metadata. A TFLite model with metadata
 * ends with a zip archive of its associated files; {@code convert} puts {@code labels.txt} there.
 */
public final class Labels {

    public static final String MODEL_LABELS = "labels.txt";

    private Labels() {}

    /** One label per line (trailing empty line and \r ignored); the count must match. */
    public static List<String> parse(String text, int expectedCount) {
        List<String> labels = new ArrayList<>();
        for (String line : text.split("\n", -1)) {
            labels.add(line.endsWith("\r") ? line.substring(0, line.length() - 1) : line);
        }
        if (!labels.isEmpty() && labels.get(labels.size() - 1).isEmpty()) {
            labels.remove(labels.size() - 1);
        }
        if (labels.size() != expectedCount) {
            throw new IllegalArgumentException("The label file has " + labels.size()
                    + " labels; the model outputs " + expectedCount + " scores.");
        }
        return labels;
    }

    /** The labels embedded in a model file by {@code convert}. */
    public static List<String> fromModel(byte[] model, int expectedCount) {
        return parse(new String(associatedFile(model, MODEL_LABELS), StandardCharsets.UTF_8),
                expectedCount);
    }

    /** An associated file of a model with metadata (the zip appended to the flatbuffer). */
    public static byte[] associatedFile(byte[] model, String name) {
        byte[] found = associatedFileOrNull(model, name);
        if (found == null) {
            throw new IllegalArgumentException("The model's metadata has no " + name + ".");
        }
        return found;
    }

    /** An associated file of a model with metadata, or null when it has none of that name. */
    public static byte[] associatedFileOrNull(byte[] model, String name) {
        ByteBuffer buf = ByteBuffer.wrap(model).order(ByteOrder.LITTLE_ENDIAN);
        int end = -1;
        for (int i = model.length - 22; i >= Math.max(0, model.length - 22 - 65535); i--) {
            if (buf.getInt(i) == 0x06054b50) { // end of central directory
                end = i;
                break;
            }
        }
        if (end < 0) {
            throw new IllegalArgumentException("The model has no associated files (no TFLite "
                    + "metadata): convert it with `convert`, which embeds " + MODEL_LABELS + ".");
        }
        int entries = buf.getShort(end + 10) & 0xffff;
        int directorySize = buf.getInt(end + 12);
        // The archive may sit after the flatbuffer: offsets in it count from its own start.
        int shift = end - directorySize - buf.getInt(end + 16);
        int at = end - directorySize;
        for (int n = 0; n < entries; n++) {
            int method = buf.getShort(at + 10) & 0xffff;
            int compressed = buf.getInt(at + 20);
            int size = buf.getInt(at + 24);
            int nameLength = buf.getShort(at + 28) & 0xffff;
            int extra = buf.getShort(at + 30) & 0xffff;
            int comment = buf.getShort(at + 32) & 0xffff;
            int local = buf.getInt(at + 42) + shift;
            String entry = new String(model, at + 46, nameLength, StandardCharsets.UTF_8);
            if (entry.equals(name)) {
                int data = local + 30 + (buf.getShort(local + 26) & 0xffff)
                        + (buf.getShort(local + 28) & 0xffff);
                return read(model, data, compressed, size, method, name);
            }
            at += 46 + nameLength + extra + comment;
        }
        return null;
    }

    private static byte[] read(byte[] model, int at, int compressed, int size, int method,
                               String name) {
        if (method == 0) {
            byte[] out = new byte[size];
            System.arraycopy(model, at, out, 0, size);
            return out;
        }
        if (method != 8) {
            throw new IllegalArgumentException(name + " is compressed with zip method " + method
                    + "; only stored (0) and deflate (8) are read.");
        }
        Inflater inflater = new Inflater(true);
        inflater.setInput(model, at, compressed);
        ByteArrayOutputStream out = new ByteArrayOutputStream(size);
        byte[] chunk = new byte[8192];
        try {
            while (!inflater.finished()) {
                int n = inflater.inflate(chunk);
                if (n == 0 && inflater.needsInput()) {
                    throw new IllegalArgumentException(name + " in the model is truncated.");
                }
                out.write(chunk, 0, n);
            }
        } catch (DataFormatException e) {
            throw new IllegalArgumentException(name + " in the model is corrupt.", e);
        } finally {
            inflater.end();
        }
        return out.toByteArray();
    }
}
