package com.kerasmixer.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Camera or gallery pixels to the model's input tensor bytes.
 *
 * <p>The largest centred square is cropped and resized bilinearly (half-pixel centres) to the
 * model's input size; each resized channel is rounded to an integer 0-255 pixel, then stored as
 * the input type asks: raw pixels for float32 (our models fold the normalisation in), and
 * {@code floor(pixel / scale + zeroPoint + 0.5)} clamped for uint8 and int8. The Python
 * reference in {@code convert/golden.py} computes the same bytes.
 */
public final class ImagePreprocessor {

    private ImagePreprocessor() {}

    /** Input tensor bytes (native little-endian for float32) from ARGB pixels, row by row. */
    public static byte[] toInput(int[] argb, int width, int height, TensorSpec input) {
        if (argb.length != width * height) {
            throw new IllegalArgumentException("Got " + argb.length + " pixels for a " + width
                    + "x" + height + " image.");
        }
        int side = Math.min(width, height);
        if (side < input.height || side < input.width) {
            throw new IllegalArgumentException("Image " + width + "x" + height
                    + " is smaller than the model's " + input.width + "x" + input.height
                    + " input (the centre crop would be upscaled).");
        }
        int[] pixels = resizedPixels(argb, width, height, side, input.height, input.width);
        ByteBuffer out = ByteBuffer.allocate(pixels.length * input.elementBytes())
                .order(ByteOrder.LITTLE_ENDIAN);
        for (int value : pixels) {
            if (input.type == TensorSpec.DataType.FLOAT32) {
                out.putFloat(value);
            } else {
                long q = (long) Math.floor(value / (double) input.scale + input.zeroPoint + 0.5);
                out.put((byte) Math.max(input.type.min, Math.min(input.type.max, q)));
            }
        }
        return out.array();
    }

    /** The centred side x side crop resized to outHeight x outWidth, as R, G, B ints per pixel. */
    static int[] resizedPixels(int[] argb, int width, int height, int side, int outHeight,
                               int outWidth) {
        int left = (width - side) / 2;
        int top = (height - side) / 2;
        int[] out = new int[outHeight * outWidth * 3];
        for (int y = 0; y < outHeight; y++) {
            double sy = source(y, side, outHeight);
            int y0 = (int) Math.floor(sy);
            int y1 = Math.min(y0 + 1, side - 1);
            double fy = sy - y0;
            for (int x = 0; x < outWidth; x++) {
                double sx = source(x, side, outWidth);
                int x0 = (int) Math.floor(sx);
                int x1 = Math.min(x0 + 1, side - 1);
                double fx = sx - x0;
                int p00 = argb[(top + y0) * width + left + x0];
                int p01 = argb[(top + y0) * width + left + x1];
                int p10 = argb[(top + y1) * width + left + x0];
                int p11 = argb[(top + y1) * width + left + x1];
                for (int c = 0; c < 3; c++) {
                    int shift = 16 - 8 * c; // R, G, B
                    double value = (1 - fy) * ((1 - fx) * channel(p00, shift) + fx * channel(p01, shift))
                            + fy * ((1 - fx) * channel(p10, shift) + fx * channel(p11, shift));
                    long rounded = (long) Math.floor(value + 0.5);
                    out[(y * outWidth + x) * 3 + c] = (int) Math.max(0, Math.min(255, rounded));
                }
            }
        }
        return out;
    }

    private static double source(int index, int inSize, int outSize) {
        double s = (index + 0.5) * ((double) inSize / outSize) - 0.5;
        return Math.max(0.0, Math.min(s, inSize - 1.0));
    }

    private static int channel(int pixel, int shift) {
        return (pixel >> shift) & 0xff;
    }
}
