package org.mobilevid.core;

import java.util.ArrayDeque;

/**
 * Mean of the class probabilities of the last {@code size} windows (1: none), as
 * mobilevid.data.windows.Smoother: steadies a live label and delays a real change by at most
 * {@code size - 1} hops.
 */
public final class Smoother {
  private final int size;
  private final ArrayDeque<double[]> history = new ArrayDeque<>();

  public Smoother(int size) {
    if (size < 1) throw new IllegalArgumentException("smoothing must be at least 1 window");
    this.size = size;
  }

  public double[] add(double[] probs) {
    if (!history.isEmpty() && history.peekFirst().length != probs.length) {
      throw new IllegalArgumentException("probability vectors of different lengths");
    }
    history.addLast(probs.clone());
    if (history.size() > size) history.removeFirst();
    double[] out = new double[probs.length];
    for (double[] row : history) {
      for (int i = 0; i < out.length; i++) out[i] += row[i];
    }
    for (int i = 0; i < out.length; i++) out[i] /= history.size();
    return out;
  }
}
