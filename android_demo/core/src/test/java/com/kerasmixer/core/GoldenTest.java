package com.kerasmixer.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Properties;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.Test;

/**
 * Cases written by {@code python -m convert.golden} for real images and real converted models:
 * the core must build the exact input bytes the Python side fed LiteRT, and the same top-k from
 * the output tensor LiteRT produced. run-tests.sh writes them and passes -Dgolden.dir.
 */
public class GoldenTest {

    @Test
    public void reproducesThePythonSide() throws IOException {
        String folder = System.getProperty("golden.dir");
        if (folder == null) {
            fail("Run through android_demo/core/run-tests.sh, which writes the golden cases.");
        }
        List<Path> cases;
        try (Stream<Path> found = Files.list(Paths.get(folder))) {
            cases = found.filter(Files::isDirectory).sorted().collect(Collectors.toList());
        }
        assertTrue("no golden cases in " + folder, cases.size() >= 3);
        for (Path dir : cases) {
            check(dir);
        }
    }

    private static void check(Path dir) throws IOException {
        Properties p = new Properties();
        try (Reader reader = Files.newBufferedReader(dir.resolve("case.properties"))) {
            p.load(reader);
        }
        int width = Integer.parseInt(p.getProperty("image_width"));
        int height = Integer.parseInt(p.getProperty("image_height"));
        ByteBuffer pixels = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("image.argb")))
                .order(ByteOrder.LITTLE_ENDIAN);
        int[] argb = new int[width * height];
        pixels.asIntBuffer().get(argb);

        TensorSpec input = TensorSpec.image(p.getProperty("input_type"),
                Integer.parseInt(p.getProperty("input_height")),
                Integer.parseInt(p.getProperty("input_width")),
                Float.parseFloat(p.getProperty("input_scale")),
                Integer.parseInt(p.getProperty("input_zero_point")));
        byte[] model = Files.readAllBytes(dir.resolve("model.tflite"));
        ModelMetadata metadata = ModelMetadata.read(model);
        assertEquals(dir + ": crop", Float.parseFloat(p.getProperty("eval_crop")),
                metadata.evalCrop, 0f);
        assertArrayEquals(dir + ": input bytes", Files.readAllBytes(dir.resolve("input.bin")),
                ImagePreprocessor.toInput(argb, width, height, input, metadata.evalCrop));

        TensorSpec output = TensorSpec.scores(p.getProperty("output_type"),
                Integer.parseInt(p.getProperty("output_count")),
                Float.parseFloat(p.getProperty("output_scale")),
                Integer.parseInt(p.getProperty("output_zero_point")));
        List<String> labels = Labels.fromModel(model, output.width);
        assertEquals(dir + ": logits", Boolean.parseBoolean(p.getProperty("logits")),
                metadata.outputIsLogits());
        float[] scores = Scores.dequantize(Files.readAllBytes(dir.resolve("output.bin")), output);
        if (metadata.outputIsLogits()) {
            scores = Scores.softmax(scores);
        }
        String[] indices = p.getProperty("top_indices").split(",");
        String[] names = p.getProperty("top_labels").split(",", -1);
        String[] values = p.getProperty("top_scores").split(",");
        List<Category> top = Scores.topK(scores, labels, indices.length);
        for (int i = 0; i < indices.length; i++) {
            assertEquals(dir + ": rank " + i, Integer.parseInt(indices[i]), top.get(i).index);
            assertEquals(dir + ": rank " + i, names[i], top.get(i).label);
            assertEquals(dir + ": rank " + i, Float.parseFloat(values[i]), top.get(i).score, 1e-6f);
        }
    }
}
