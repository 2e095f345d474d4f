package com.kerasmixer.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class LatencyStatsTest {

    @Test
    public void medianAndP90InterpolateLikeNumpy() {
        LatencyStats stats = new LatencyStats(10);
        for (double ms : new double[] {5, 1, 4, 2, 3}) {
            stats.add(ms);
        }
        assertEquals(3.0, stats.median(), 1e-12);
        assertEquals(4.6, stats.p90(), 1e-12); // numpy.percentile([1..5], 90)
    }

    @Test
    public void keepsOnlyTheLastWindow() {
        LatencyStats stats = new LatencyStats(3);
        for (double ms : new double[] {100, 100, 100, 1, 2, 3}) {
            stats.add(ms);
        }
        assertEquals(3, stats.count());
        assertEquals(2.0, stats.median(), 0);
        assertTrue(Double.isNaN(new LatencyStats(4).median()));
    }
}
