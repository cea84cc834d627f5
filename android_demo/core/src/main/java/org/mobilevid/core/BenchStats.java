package org.mobilevid.core;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Latency statistics as mobilevid.bench.stats.summarize computes them: median, p90 (linear
 * interpolation between closest ranks, numpy's default), min, max, mean, trimmed mean (mean of
 * {@code sorted[n/10 : 9n/10]}, integer division, as ExecuTorch's Minibench; all values if that
 * slice is empty) and the sample standard deviation (n - 1; 0 for one value).
 */
public final class BenchStats {
  public final int n;
  public final double median;
  public final double p90;
  public final double min;
  public final double max;
  public final double mean;
  public final double trimmean;
  public final double stdev;

  private BenchStats(
      int n, double median, double p90, double min, double max, double mean, double trimmean,
      double stdev) {
    this.n = n;
    this.median = median;
    this.p90 = p90;
    this.min = min;
    this.max = max;
    this.mean = mean;
    this.trimmean = trimmean;
    this.stdev = stdev;
  }

  public static BenchStats of(double[] timesMs) {
    if (timesMs.length == 0) {
      throw new IllegalArgumentException("no timings to summarize");
    }
    double[] xs = timesMs.clone();
    for (double x : xs) {
      if (Double.isNaN(x) || Double.isInfinite(x)) {
        throw new IllegalArgumentException("timings must be finite");
      }
    }
    Arrays.sort(xs);
    int n = xs.length;
    double median = n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2.0;
    int lo = n / 10;
    int hi = n * 9 / 10;
    double trimmean = hi > lo ? mean(xs, lo, hi) : mean(xs, 0, n);
    double mean = mean(xs, 0, n);
    double stdev = 0.0;
    if (n > 1) {
      double ss = 0.0;
      for (double x : xs) {
        double d = x - mean;
        ss += d * d;
      }
      stdev = Math.sqrt(ss / (n - 1));
    }
    return new BenchStats(n, median, percentile(xs, 0.9), xs[0], xs[n - 1], mean, trimmean, stdev);
  }

  /** Linear interpolation between closest ranks on sorted values (numpy's default). */
  public static double percentile(double[] sorted, double q) {
    double pos = (sorted.length - 1) * q;
    int lo = (int) pos;
    int hi = Math.min(lo + 1, sorted.length - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }

  /** Compensated (Neumaier) mean of xs[from, to), close to Python's statistics.fmean. */
  private static double mean(double[] xs, int from, int to) {
    double sum = 0.0;
    double comp = 0.0;
    for (int i = from; i < to; i++) {
      double x = xs[i];
      double t = sum + x;
      if (Math.abs(sum) >= Math.abs(x)) {
        comp += (sum - t) + x;
      } else {
        comp += (x - t) + sum;
      }
      sum = t;
    }
    return (sum + comp) / (to - from);
  }

  /** Python's round(v, decimals): the exact binary value rounded half-to-even. */
  public static double round(double v, int decimals) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      return v;
    }
    return new BigDecimal(v).setScale(decimals, RoundingMode.HALF_EVEN).doubleValue();
  }

  /** As Stats.to_json on the Python side: floats rounded to 4 decimals. */
  public Map<String, Object> toJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("n", n);
    m.put("median", round(median, 4));
    m.put("p90", round(p90, 4));
    m.put("min", round(min, 4));
    m.put("max", round(max, 4));
    m.put("mean", round(mean, 4));
    m.put("trimmean", round(trimmean, 4));
    m.put("stdev", round(stdev, 4));
    return m;
  }
}
