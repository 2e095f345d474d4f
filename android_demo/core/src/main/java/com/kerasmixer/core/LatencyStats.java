package com.kerasmixer.core;

import java.util.Arrays;

/** Median and 90th percentile over the last N timings (per-frame latency, benchmark runs). */
public final class LatencyStats {
    private final double[] window;
    private int count;
    private int next;

    public LatencyStats(int size) {
        if (size < 1) {
            throw new IllegalArgumentException("The window needs at least one timing; got " + size);
        }
        window = new double[size];
    }

    public synchronized void add(double milliseconds) {
        window[next] = milliseconds;
        next = (next + 1) % window.length;
        count = Math.min(count + 1, window.length);
    }

    public synchronized int count() {
        return count;
    }

    public double median() {
        return percentile(50);
    }

    public double p90() {
        return percentile(90);
    }

    /** Linear interpolation between closest ranks (numpy's default); NaN when empty. */
    public synchronized double percentile(double p) {
        if (count == 0) {
            return Double.NaN;
        }
        double[] sorted = Arrays.copyOf(window, count);
        Arrays.sort(sorted);
        double rank = p / 100.0 * (count - 1);
        int low = (int) Math.floor(rank);
        int high = Math.min(low + 1, count - 1);
        return sorted[low] + (rank - low) * (sorted[high] - sorted[low]);
    }
}
