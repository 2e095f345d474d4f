package com.kerasmixer.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Camera or gallery pixels to the model's input tensor bytes, prepared as the model was evaluated.
 *
 * <p>The image is resized to cover the model's input divided by its evaluation crop (from the
 * model's metadata, {@link ModelMetadata#evalCrop}; 1 keeps the whole shorter side), keeping its
 * aspect ratio, with TensorFlow's antialiased bilinear filter (a triangle widened by the shrink
 * factor, its weights normalised over the image); the centred crop of the input's size is taken;
 * each channel is rounded to an integer 0-255 pixel and stored as the input type asks: raw pixels
 * for float32 (our models fold the normalisation in), and {@code floor(pixel / scale + zeroPoint
 * + 0.5)} clamped for uint8 and int8. The Python reference in {@code convert/golden.py} computes
 * the same bytes, within one pixel level of the evaluation pipeline.
 */
public final class ImagePreprocessor {

    private ImagePreprocessor() {}

    /** Input tensor bytes for a model evaluated on the whole shorter side (crop 1). */
    public static byte[] toInput(int[] argb, int width, int height, TensorSpec input) {
        return toInput(argb, width, height, input, 1f);
    }

    /** Input tensor bytes (native little-endian for float32) from ARGB pixels, row by row. */
    public static byte[] toInput(int[] argb, int width, int height, TensorSpec input,
                                 float evalCrop) {
        if (argb.length != width * height) {
            throw new IllegalArgumentException("Got " + argb.length + " pixels for a " + width
                    + "x" + height + " image.");
        }
        if (!(evalCrop > 0f && evalCrop <= 1f)) {
            throw new IllegalArgumentException("The evaluation crop must be in (0, 1]; got "
                    + evalCrop + ".");
        }
        int[] pixels = resizedPixels(argb, width, height, input.height, input.width, evalCrop);
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

    /** The centred outHeight x outWidth crop of the covering resize, as R, G, B ints per pixel. */
    static int[] resizedPixels(int[] argb, int width, int height, int outHeight, int outWidth,
                               float evalCrop) {
        int[] covered = coveringSize(height, width, outHeight, outWidth, evalCrop);
        Span[] rows = spans(height, covered[0], (covered[0] - outHeight) / 2, outHeight);
        Span[] cols = spans(width, covered[1], (covered[1] - outWidth) / 2, outWidth);
        int[] out = new int[outHeight * outWidth * 3];
        for (int y = 0; y < outHeight; y++) {
            for (int x = 0; x < outWidth; x++) {
                for (int c = 0; c < 3; c++) {
                    int shift = 16 - 8 * c; // R, G, B
                    double value = 0;
                    for (int i = 0; i < cols[x].weights.length; i++) {
                        double column = 0;
                        for (int j = 0; j < rows[y].weights.length; j++) {
                            int pixel = argb[(rows[y].start + j) * width + cols[x].start + i];
                            column += rows[y].weights[j] * (double) ((pixel >> shift) & 0xff);
                        }
                        value += cols[x].weights[i] * column;
                    }
                    long rounded = (long) Math.floor(value + 0.5);
                    out[(y * outWidth + x) * 3 + c] = (int) Math.max(0, Math.min(255, rounded));
                }
            }
        }
        return out;
    }

    /** The size the image is resized to before the crop, in float as TensorFlow computes it. */
    static int[] coveringSize(int height, int width, int outHeight, int outWidth, float crop) {
        float scale = Math.max((float) outHeight / crop / (float) height,
                (float) outWidth / crop / (float) width);
        int coveredHeight = (int) Math.rint((float) height * scale); // rounds half to even
        int coveredWidth = (int) Math.rint((float) width * scale);
        return new int[] {Math.max(coveredHeight, outHeight), Math.max(coveredWidth, outWidth)};
    }

    /** The source pixels and weights of one output pixel along one axis. */
    static final class Span {
        final int start;
        final float[] weights;

        Span(int start, float[] weights) {
            this.start = start;
            this.weights = weights;
        }
    }

    /**
     * Output pixels first .. first+count-1 of {@code inSize} pixels resized to {@code outSize}:
     * TensorFlow's ScaleAndTranslate with its triangle kernel, antialiased, in float.
     */
    static Span[] spans(int inSize, int outSize, int first, int count) {
        float invScale = 1f / ((float) outSize / (float) inSize);
        float kernelScale = Math.max(invScale, 1f);
        Span[] found = new Span[count];
        for (int k = 0; k < count; k++) {
            float sample = ((float) (first + k) + 0.5f) * invScale;
            int start = (int) Math.ceil(sample - kernelScale - 0.5f);
            int end = (int) Math.floor(sample + kernelScale - 0.5f);
            start = Math.min(Math.max(start, 0), inSize - 1);
            end = Math.min(Math.max(end, 0), inSize - 1) + 1;
            float[] weights = new float[end - start];
            float total = 0f;
            for (int s = start; s < end; s++) {
                float position = ((float) s + 0.5f - sample) * (1f / kernelScale);
                weights[s - start] = Math.max(0f, 1f - Math.abs(position));
                total += weights[s - start];
            }
            for (int i = 0; i < weights.length; i++) {
                weights[i] /= total;
            }
            found[k] = new Span(start, weights);
        }
        return found;
    }
}
