package org.mobilevid.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class BenchStatsTest {
  private static final String[] KEYS = {"median", "p90", "min", "max", "mean", "trimmean", "stdev"};

  @Test
  public void reproducesPythonVectors() {
    Map<String, Object> d = Vectors.load("stats.json");
    double tol = Vectors.tolerance(d);
    List<Object> cases = Vectors.cases(d);
    long values = 0;
    for (int k = 0; k < cases.size(); k++) {
      Map<String, Object> c = Json.asObject(cases.get(k), "case");
      double[] times = Json.doubles(c.get("times_ms"), "times_ms");
      // Python's Stats.to_json rounds to 4 decimals; compare the same rounding.
      Map<String, Object> got = BenchStats.of(times).toJson();
      assertEquals(times.length, ((Number) got.get("n")).intValue());
      for (String key : KEYS) {
        double want = Json.asDouble(c.get(key), key);
        assertEquals("case " + k + " (n=" + times.length + "): " + key, want,
            ((Number) got.get(key)).doubleValue(), tol);
        values++;
      }
    }
    Vectors.report("stats.json", cases.size(), values);
  }

  @Test
  public void minibenchTrimmedMean() {
    // n = 10 drops sorted[0] and sorted[9]
    double[] xs = {100, 1, 2, 3, 4, 5, 6, 7, 8, -50};
    assertEquals(4.5, BenchStats.of(xs).trimmean, 1e-12);
    // n = 3: sorted[0 : 2], as Minibench slices it
    assertEquals(1.5, BenchStats.of(new double[] {1, 2, 30}).trimmean, 1e-12);
  }

  @Test
  public void oneValue() {
    BenchStats s = BenchStats.of(new double[] {7.25});
    assertEquals(7.25, s.median, 0);
    assertEquals(7.25, s.p90, 0);
    assertEquals(7.25, s.trimmean, 0);
    assertEquals(0.0, s.stdev, 0);
  }

  @Test
  public void percentileIsNumpyLinear() {
    assertEquals(9.1, BenchStats.percentile(new double[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9), 1e-12);
  }

  @Test
  public void roundsLikePython() {
    assertEquals(2.675, BenchStats.round(2.675, 2) + 0.005, 1e-12); // 2.675 is 2.67499.. in binary
    assertEquals(0.1235, BenchStats.round(0.12345678, 4), 0);
  }

  @Test
  public void rejectsEmpty() {
    assertThrows(IllegalArgumentException.class, () -> BenchStats.of(new double[0]));
  }
}
