package com.kerasmixer.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** The output tensor to class scores: dequantisation, softmax, top-k. */
public final class Scores {

    private Scores() {}

    /** Output tensor bytes as floats: {@code (q - zeroPoint) * scale} for uint8/int8. */
    public static float[] dequantize(byte[] raw, TensorSpec output) {
        int count = raw.length / output.elementBytes();
        if (count != output.width || raw.length % output.elementBytes() != 0) {
            throw new IllegalArgumentException("Output holds " + raw.length + " bytes; "
                    + output + " needs " + output.width * output.elementBytes() + ".");
        }
        float[] scores = new float[count];
        ByteBuffer in = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            switch (output.type) {
                case FLOAT32:
                    scores[i] = in.getFloat();
                    break;
                case UINT8:
                    scores[i] = (float) ((in.get() & 0xff) - output.zeroPoint) * output.scale;
                    break;
                default:
                    scores[i] = (float) (in.get() - output.zeroPoint) * output.scale;
            }
        }
        return scores;
    }

    /** Probabilities from logits (the XNNPACK graph leaves the softmax to the app). */
    public static float[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] e = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp(logits[i] - max);
            sum += e[i];
        }
        float[] probabilities = new float[logits.length];
        for (int i = 0; i < logits.length; i++) {
            probabilities[i] = (float) (e[i] / sum);
        }
        return probabilities;
    }

    /** The k best classes, best first; equal scores keep the lower index first. */
    public static List<Category> topK(float[] scores, List<String> labels, int k) {
        if (labels.size() != scores.length) {
            throw new IllegalArgumentException(labels.size() + " labels for " + scores.length
                    + " scores: the label file does not belong to this model.");
        }
        List<Category> best = new ArrayList<>();
        boolean[] taken = new boolean[scores.length];
        for (int n = 0; n < Math.min(k, scores.length); n++) {
            int chosen = -1;
            for (int i = 0; i < scores.length; i++) {
                if (!taken[i] && (chosen < 0 || scores[i] > scores[chosen])) {
                    chosen = i;
                }
            }
            taken[chosen] = true;
            best.add(new Category(chosen, labels.get(chosen), scores[chosen]));
        }
        return best;
    }
}
