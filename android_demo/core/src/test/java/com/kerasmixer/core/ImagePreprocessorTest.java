package com.kerasmixer.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.Test;

public class ImagePreprocessorTest {

    private static int rgb(int r, int g, int b) {
        return 0xff000000 | r << 16 | g << 8 | b;
    }

    private static final TensorSpec RAW_2X2 = TensorSpec.image("uint8", 2, 2, 1f, 0);

    @Test
    public void sameSizeImageIsCopiedAsRgbBytes() {
        int[] argb = {rgb(1, 2, 3), rgb(4, 5, 6), rgb(7, 8, 9), rgb(250, 251, 255)};
        byte[] input = ImagePreprocessor.toInput(argb, 2, 2, RAW_2X2);
        assertArrayEquals(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, (byte) 250, (byte) 251,
            (byte) 255}, input);
    }

    @Test
    public void halvingFiltersAsTensorFlowDoes() {
        int[] argb = new int[16];
        for (int i = 0; i < 16; i++) {
            argb[i] = rgb(i * 10, 0, 255 - i);
        }
        byte[] input = ImagePreprocessor.toInput(argb, 4, 4, RAW_2X2);
        // tf.image.resize(image, (2, 2), antialias=True) gives red 35.71, 51.43, 98.57, 114.29
        // and blue 251.43, 249.86, 245.14, 243.57 (a triangle filter over 3 pixels a side).
        int[] red = {36, 51, 99, 114};
        int[] blue = {251, 250, 245, 244};
        for (int pixel = 0; pixel < 4; pixel++) {
            assertEquals(red[pixel], input[pixel * 3] & 0xff);
            assertEquals(0, input[pixel * 3 + 1]);
            assertEquals(blue[pixel], input[pixel * 3 + 2] & 0xff);
        }
    }

    @Test
    public void smallImagesAreEnlargedAsTensorFlowDoes() {
        int[] argb = {rgb(0, 0, 0), rgb(100, 0, 0), rgb(200, 0, 0), rgb(50, 0, 0)};
        byte[] input = ImagePreprocessor.toInput(argb, 2, 2, TensorSpec.image("uint8", 4, 4, 1f, 0));
        // tf.image.resize(2x2 image, (4, 4), antialias=True), red, rounded
        int[] red = {0, 25, 75, 100, 50, 59, 78, 88, 150, 128, 84, 63, 200, 163, 88, 50};
        for (int pixel = 0; pixel < 16; pixel++) {
            assertEquals(red[pixel], input[pixel * 3] & 0xff);
        }
    }

    @Test
    public void theEvaluationCropKeepsTheCentre() {
        int[] argb = new int[16];
        for (int i = 0; i < 16; i++) {
            argb[i] = rgb(i, 0, 0);
        }
        // Crop 0.5: resized to cover 2 / 0.5 = 4 (the image as it is), the centred 2x2 kept.
        byte[] input = ImagePreprocessor.toInput(argb, 4, 4, RAW_2X2, 0.5f);
        assertArrayEquals(new byte[] {5, 0, 0, 6, 0, 0, 9, 0, 0, 10, 0, 0}, input);
        assertThrows(IllegalArgumentException.class,
                () -> ImagePreprocessor.toInput(argb, 4, 4, RAW_2X2, 0f));
    }

    @Test
    public void wideImagesAreCroppedToTheCentredSquare() {
        int[] argb = new int[6 * 2];
        for (int i = 0; i < argb.length; i++) {
            argb[i] = rgb(i % 6 == 2 || i % 6 == 3 ? 200 : 9, 0, 0); // columns 2, 3 are the centre
        }
        byte[] input = ImagePreprocessor.toInput(argb, 6, 2, RAW_2X2);
        for (int pixel = 0; pixel < 4; pixel++) {
            assertEquals(200, input[pixel * 3] & 0xff);
        }
    }

    @Test
    public void quantisesWithScaleAndZeroPointAndClamps() {
        TensorSpec int8 = TensorSpec.image("int8", 1, 1, 2f, -100);
        // 255 / 2 - 100 + 0.5 = 28; 0 - 100 = -100; 3 / 2 - 100 + 0.5 = -98.
        assertArrayEquals(new byte[] {28, -100, -98},
                ImagePreprocessor.toInput(new int[] {rgb(255, 0, 3)}, 1, 1, int8));
        TensorSpec tight = TensorSpec.image("int8", 1, 1, 0.5f, 0);
        assertArrayEquals(new byte[] {127, 0, 6},
                ImagePreprocessor.toInput(new int[] {rgb(255, 0, 3)}, 1, 1, tight));
    }

    @Test
    public void float32InputHoldsRawPixelsLittleEndian() {
        TensorSpec float32 = TensorSpec.image("float32", 1, 1, 0f, 0);
        ByteBuffer input = ByteBuffer.wrap(
                ImagePreprocessor.toInput(new int[] {rgb(255, 1, 0)}, 1, 1, float32))
                .order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(255f, input.getFloat(), 0f);
        assertEquals(1f, input.getFloat(), 0f);
        assertEquals(0f, input.getFloat(), 0f);
    }

    @Test
    public void pixelCountMustMatchTheSize() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> ImagePreprocessor.toInput(new int[5], 2, 2, RAW_2X2));
        assertTrue(error.getMessage(), error.getMessage().contains("5 pixels for a 2x2"));
    }
}
