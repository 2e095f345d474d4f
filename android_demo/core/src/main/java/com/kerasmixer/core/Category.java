package com.kerasmixer.core;

import java.util.Locale;

/** One class of a classification: its index in the output, its label and its score. */
public final class Category {
    public final int index;
    public final String label;
    public final float score;

    public Category(int index, String label, float score) {
        this.index = index;
        this.label = label;
        this.score = score;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s (%d): %.4f", label, index, score);
    }
}
