package com.kerasmixer.core;

import java.util.Locale;

/** What a model's image input or score output tensor holds, as the interpreter reports it. */
public final class TensorSpec {

    /** The tensor types our models use. */
    public enum DataType {
        UINT8(1, 0, 255), INT8(1, -128, 127), FLOAT32(4, 0, 0);

        final int bytes;
        final int min;
        final int max;

        DataType(int bytes, int min, int max) {
            this.bytes = bytes;
            this.min = min;
            this.max = max;
        }

        /** "uint8", "int8" or "float32" (any case); anything else is refused by name. */
        public static DataType parse(String name) {
            for (DataType type : values()) {
                if (type.name().equalsIgnoreCase(name)) {
                    return type;
                }
            }
            throw new IllegalArgumentException(
                    "Unsupported tensor type '" + name + "': expected uint8, int8 or float32.");
        }
    }

    public final DataType type;
    /** Height and width of an image input; the element count of an output. */
    public final int height;
    public final int width;
    public final float scale;
    public final int zeroPoint;

    public TensorSpec(DataType type, int height, int width, float scale, int zeroPoint) {
        if (type != DataType.FLOAT32 && !(scale > 0)) {
            throw new IllegalArgumentException(
                    "A quantised " + type + " tensor needs a positive scale; got " + scale + ".");
        }
        this.type = type;
        this.height = height;
        this.width = width;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    /** An image input of height x width x 3. */
    public static TensorSpec image(String type, int height, int width, float scale, int zeroPoint) {
        return new TensorSpec(DataType.parse(type), height, width, scale, zeroPoint);
    }

    /** A score output with {@code count} classes. */
    public static TensorSpec scores(String type, int count, float scale, int zeroPoint) {
        return new TensorSpec(DataType.parse(type), 1, count, scale, zeroPoint);
    }

    public int elementBytes() {
        return type.bytes;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s[%dx%d] scale=%g zero=%d",
                type.name().toLowerCase(Locale.ROOT), height, width, scale, zeroPoint);
    }
}
