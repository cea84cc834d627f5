package org.mobilevid.core;

import java.util.Arrays;

/**
 * Softmax and top-k over a model's logits, as the Python side ranks them: probabilities from a
 * max-subtracted softmax in double precision; order by logit, highest first, ties broken by the
 * lower class index.
 */
public final class TopK {
  private TopK() {}

  /** One ranked class. */
  public static final class Entry {
    public final int index;
    public final double prob;
    public final double logit;

    public Entry(int index, double prob, double logit) {
      this.index = index;
      this.prob = prob;
      this.logit = logit;
    }

    @Override
    public String toString() {
      return "#" + index + " p=" + prob;
    }
  }

  public static double[] softmax(double[] logits) {
    if (logits.length == 0) {
      throw new IllegalArgumentException("no logits");
    }
    double max = Double.NEGATIVE_INFINITY;
    for (double v : logits) {
      if (Double.isNaN(v)) {
        throw new IllegalArgumentException("logits contain NaN");
      }
      max = Math.max(max, v);
    }
    double[] p = new double[logits.length];
    double sum = 0.0;
    for (int i = 0; i < logits.length; i++) {
      p[i] = Math.exp(logits[i] - max);
      sum += p[i];
    }
    for (int i = 0; i < p.length; i++) {
      p[i] /= sum;
    }
    return p;
  }

  public static Entry[] topK(double[] logits, int k) {
    if (k < 1) {
      throw new IllegalArgumentException("k must be at least 1, got " + k);
    }
    double[] probs = softmax(logits);
    Integer[] order = new Integer[logits.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    // Highest logit first; equal logits (0.0 == -0.0 included) by the lower index.
    Arrays.sort(
        order,
        (Integer a, Integer b) -> {
          double x = logits[a];
          double y = logits[b];
          if (x > y) return -1;
          if (x < y) return 1;
          return Integer.compare(a, b);
        });
    int m = Math.min(k, logits.length);
    Entry[] out = new Entry[m];
    for (int j = 0; j < m; j++) {
      int i = order[j];
      out[j] = new Entry(i, probs[i], logits[i]);
    }
    return out;
  }

  /** For a model's float32 output ({@code Tensor.getDataAsFloatArray()}). */
  public static Entry[] topK(float[] logits, int k) {
    double[] d = new double[logits.length];
    for (int i = 0; i < d.length; i++) {
      d[i] = logits[i];
    }
    return topK(d, k);
  }
}
