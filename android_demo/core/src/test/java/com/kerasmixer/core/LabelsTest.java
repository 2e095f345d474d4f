package com.kerasmixer.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.Test;

public class LabelsTest {

    @Test
    public void parsesLinesIgnoringCarriageReturnsAndTheLastNewline() {
        assertEquals(Arrays.asList("cat", "dog", ""), Labels.parse("cat\r\ndog\n\n", 3));
        assertEquals(Arrays.asList("cat", "dog"), Labels.parse("cat\ndog", 2));
    }

    @Test
    public void countMustMatchTheModel() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> Labels.parse("a\nb\n", 3));
        assertTrue(error.getMessage(), error.getMessage().contains("has 2 labels"));
    }

    /** A stand-in model: flatbuffer-like bytes with a zip appended, as convert writes it. */
    private static byte[] modelWithZip(String labels, int method) throws IOException {
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        try (ZipOutputStream out = new ZipOutputStream(zip)) {
            byte[] other = "x".getBytes(StandardCharsets.UTF_8);
            out.putNextEntry(new ZipEntry("other.txt"));
            out.write(other);
            ZipEntry entry = new ZipEntry("labels.txt");
            byte[] data = labels.getBytes(StandardCharsets.UTF_8);
            entry.setMethod(method);
            if (method == ZipEntry.STORED) {
                CRC32 crc = new CRC32();
                crc.update(data);
                entry.setSize(data.length);
                entry.setCrc(crc.getValue());
            }
            out.putNextEntry(entry);
            out.write(data);
        }
        byte[] flatbuffer = new byte[1000];
        Arrays.fill(flatbuffer, (byte) 7);
        byte[] model = Arrays.copyOf(flatbuffer, flatbuffer.length + zip.size());
        System.arraycopy(zip.toByteArray(), 0, model, flatbuffer.length, zip.size());
        return model;
    }

    @Test
    public void readsStoredAndDeflatedLabelsFromTheModel() throws IOException {
        for (int method : new int[] {ZipEntry.STORED, ZipEntry.DEFLATED}) {
            assertEquals(Arrays.asList("zero", "one"),
                    Labels.fromModel(modelWithZip("zero\none\n", method), 2));
        }
        assertArrayEquals("x".getBytes(StandardCharsets.UTF_8),
                Labels.associatedFile(modelWithZip("a\n", ZipEntry.STORED), "other.txt"));
    }

    @Test
    public void modelWithoutMetadataIsNamed() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> Labels.fromModel(new byte[100], 2));
        assertTrue(error.getMessage(), error.getMessage().contains("no associated files"));
        // A flatbuffer whose root table has an empty vtable: no metadata field.
        byte[] bare = {8, 0, 0, 0, 4, 0, 4, 0, 4, 0, 0, 0};
        error = assertThrows(IllegalArgumentException.class, () -> ModelMetadata.read(bare));
        assertTrue(error.getMessage(), error.getMessage().contains("no TFLite metadata"));
    }
}
