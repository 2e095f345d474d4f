package com.kerasmixer.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class ScoresTest {

    @Test
    public void dequantisesUint8Int8AndFloat32() {
        assertArrayEquals(new float[] {-0.5f, 0f, 63.25f},
                Scores.dequantize(new byte[] {0, 2, (byte) 255}, TensorSpec.scores("uint8", 3, 0.25f, 2)),
                0f);
        assertArrayEquals(new float[] {-12.8f, 0f, 12.7f},
                Scores.dequantize(new byte[] {-128, 0, 127}, TensorSpec.scores("int8", 3, 0.1f, 0)),
                1e-6f);
        byte[] raw = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                .putFloat(1.5f).putFloat(-2f).array();
        assertArrayEquals(new float[] {1.5f, -2f},
                Scores.dequantize(raw, TensorSpec.scores("float32", 2, 0f, 0)), 0f);
    }

    @Test
    public void wrongOutputSizeIsNamed() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> Scores.dequantize(new byte[4], TensorSpec.scores("uint8", 10, 1f, 0)));
        assertTrue(error.getMessage(), error.getMessage().contains("4 bytes"));
    }

    @Test
    public void softmaxMatchesTheDefinition() {
        float[] p = Scores.softmax(new float[] {1f, 2f, 3f});
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
        assertEquals(Math.exp(1) / z, p[0], 1e-7);
        assertEquals(Math.exp(3) / z, p[2], 1e-7);
        float[] large = Scores.softmax(new float[] {1000f, 1000f}); // no overflow
        assertEquals(0.5f, large[0], 0f);
    }

    @Test
    public void topKIsBestFirstWithTiesByIndex() {
        List<String> labels = Arrays.asList("a", "b", "c", "d");
        List<Category> top = Scores.topK(new float[] {0.1f, 0.4f, 0.1f, 0.4f}, labels, 3);
        assertEquals(3, top.size());
        assertEquals(1, top.get(0).index);
        assertEquals("d", top.get(1).label);
        assertEquals(0, top.get(2).index);
        assertEquals(2, Scores.topK(new float[] {1f, 2f}, Arrays.asList("x", "y"), 5).size());
    }

    @Test
    public void labelsMustMatchTheScores() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> Scores.topK(new float[3], Arrays.asList("a", "b"), 1));
        assertTrue(error.getMessage(), error.getMessage().contains("2 labels for 3 scores"));
    }

    @Test
    public void unsupportedTypesAreNamed() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TensorSpec.scores("int16", 3, 1f, 0));
        assertTrue(error.getMessage(), error.getMessage().contains("'int16'"));
        assertThrows(IllegalArgumentException.class, () -> TensorSpec.image("uint8", 2, 2, 0f, 0));
    }
}
