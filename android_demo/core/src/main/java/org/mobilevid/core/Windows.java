package org.mobilevid.core;

/**
 * Sliding windows for live recognition: mobilevid.data.windows.Windows, exactly.
 *
 * <p>A window is {@code window} sampled frames {@code stride} camera frames apart (it spans
 * {@code (window - 1) * stride + 1} frames); one becomes due every {@code hop} frames once the
 * first is full; the model sees {@code frames} of its frames, spread as {@link Sampling} spreads
 * a clip. Integer arithmetic only, so that the phone and the Python reference agree frame for
 * frame (checked against tests/app_vectors/windows.json).
 */
public final class Windows {
  public final int frames;
  public final int window;
  public final int stride;
  public final int hop;

  public Windows(int frames, int window, int stride, int hop) {
    if (frames < 1 || window < 1 || stride < 1 || hop < 1) {
      throw new IllegalArgumentException(
          "frames, window, stride and hop must be at least 1: "
              + frames + ", " + window + ", " + stride + ", " + hop);
    }
    if (window < frames) {
      throw new IllegalArgumentException(
          "a window of " + window + " frames is shorter than the model's clip (" + frames + ")");
    }
    this.frames = frames;
    this.window = window;
    this.stride = stride;
    this.hop = hop;
  }

  /** A hop in seconds as camera frames: round half up, at least 1. */
  public static int hopFrames(double seconds, double fps) {
    return (int) Math.max(1, Math.floor(seconds * fps + 0.5));
  }

  /** Camera frames from a window's first frame to its last. */
  public int span() {
    return (window - 1) * stride + 1;
  }

  /**
   * After {@code received} frames, the first frame of the window that has just become complete,
   * or -1 when none is due.
   */
  public long due(long received) {
    long span = span();
    if (received < span || (received - span) % hop != 0) return -1;
    return received - span;
  }

  /**
   * The {@code frames} frame numbers the model sees for the window starting at {@code start},
   * modulo {@code n} (a video shorter than the span is looped).
   */
  public long[] indices(long start, long n) {
    int[] picks = window > frames ? Sampling.indices(window, frames, null) : null;
    long[] out = new long[frames];
    for (int i = 0; i < frames; i++) {
      long j = picks == null ? i : picks[i];
      out[i] = Math.floorMod(start + j * stride, n);
    }
    return out;
  }
}
