package org.mobilevid.core;

/**
 * Decoded RGB frames to the model's input, as mobilevid.data.video.preprocess_frames does it:
 *
 * <ol>
 *   <li>crop the central square of side {@code min(H, W)}, offsets {@code (H - side) / 2} and
 *       {@code (W - side) / 2} (floor);
 *   <li>resize it to {@code size x size}, bilinear with half-pixel centres on float RGB in
 *       [0, 255], as OpenCV's {@code cv2.resize(..., INTER_LINEAR)} on float32 input: source
 *       coordinate {@code (d + 0.5) * scale - 0.5} with {@code scale = 1 / (size / side)} in
 *       double, floored, the fraction rounded to float as the weight; a coordinate below 0 is
 *       clamped to pixel 0 with weight 1, one at or past the last pixel to the last pixel with
 *       weight 1; rows are interpolated horizontally first, then vertically, in float (OpenCV's
 *       SIMD kernels may differ by an ulp or two: about 1e-6 after normalisation);
 *   <li>{@code x / 255}, then {@code (x - mean) / std} per channel, in float.
 * </ol>
 *
 * <p>The output is float32 (3, T, S, S), channel-major, ready for {@code Tensor.fromBlob(data,
 * new long[] {1, 3, T, S, S})}. Frames can be fed one at a time ({@link #frameInto}) so memory
 * stays O(frames) of the output, not of the video.
 */
public final class Preprocess {
  private Preprocess() {}

  /** One decoded frame; {@link #rgb} returns the pixel as 0xRRGGBB (alpha ignored). */
  public interface Frame {
    int width();

    int height();

    int rgb(int x, int y);
  }

  /** A frame in packed RGB bytes, row-major (H, W, 3), starting at {@code offset}. */
  public static Frame rgbBytes(final byte[] rgb, final int offset, final int width, final int height) {
    if (offset < 0 || (long) offset + 3L * width * height > rgb.length) {
      throw new IllegalArgumentException("RGB buffer too small for " + width + "x" + height);
    }
    return new Frame() {
      @Override
      public int width() {
        return width;
      }

      @Override
      public int height() {
        return height;
      }

      @Override
      public int rgb(int x, int y) {
        int i = offset + 3 * (y * width + x);
        return ((rgb[i] & 0xff) << 16) | ((rgb[i + 1] & 0xff) << 8) | (rgb[i + 2] & 0xff);
      }
    };
  }

  /** A frame as Android's {@code Bitmap.getPixels} gives it: ARGB ints, row stride = width. */
  public static Frame argbInts(final int[] argb, final int width, final int height) {
    if ((long) width * height > argb.length) {
      throw new IllegalArgumentException("pixel buffer too small for " + width + "x" + height);
    }
    return new Frame() {
      @Override
      public int width() {
        return width;
      }

      @Override
      public int height() {
        return height;
      }

      @Override
      public int rgb(int x, int y) {
        return argb[y * width + x] & 0xffffff;
      }
    };
  }

  /** Linear-interpolation taps along one axis, OpenCV INTER_LINEAR on float data. */
  static final class Taps {
    final int[] i0;
    final int[] i1;
    final float[] w0;
    final float[] w1;

    Taps(int src, int dst) {
      i0 = new int[dst];
      i1 = new int[dst];
      w0 = new float[dst];
      w1 = new float[dst];
      double invScale = (double) dst / src;
      double scale = 1.0 / invScale;
      for (int d = 0; d < dst; d++) {
        double c = (d + 0.5) * scale - 0.5;
        int s = (int) Math.floor(c);
        float f = (float) (c - s); // fraction in double, then float: matches OpenCV 5 closest
        if (s < 0) {
          f = 0f;
          s = 0;
        }
        if (s >= src - 1) {
          f = 0f;
          s = src - 1;
        }
        i0[d] = s;
        i1[d] = Math.min(s + 1, src - 1); // weight 0 when clamped
        w0[d] = 1f - f;
        w1[d] = f;
      }
    }
  }

  /** Number of floats in one clip (3 * T * S * S). */
  public static int clipLength(int frames, int size) {
    long n = 3L * frames * size * size;
    if (n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("clip too large: " + n + " floats");
    }
    return (int) n;
  }

  /**
   * Crop, resize and normalise {@code frame} into time slot {@code t} of {@code out}, a (3, T,
   * S, S) buffer of {@link #clipLength} floats.
   */
  public static void frameInto(
      Frame frame, int t, int frames, int size, double[] mean, double[] std, float[] out) {
    if (t < 0 || t >= frames) {
      throw new IllegalArgumentException("frame slot " + t + " outside 0.." + (frames - 1));
    }
    if (out.length < clipLength(frames, size)) {
      throw new IllegalArgumentException("output buffer too small");
    }
    if (mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException("mean and std need 3 values (R, G, B)");
    }
    int h = frame.height();
    int w = frame.width();
    if (h < 1 || w < 1) {
      throw new IllegalArgumentException("empty frame " + w + "x" + h);
    }
    int side = Math.min(h, w);
    int y0 = (h - side) / 2;
    int x0 = (w - side) / 2;
    Taps taps = new Taps(side, size);
    float[] m = {(float) mean[0], (float) mean[1], (float) mean[2]};
    float[] sd = {(float) std[0], (float) std[1], (float) std[2]};
    int plane = size * size;
    int chStride = frames * plane;
    int base = t * plane;
    for (int dy = 0; dy < size; dy++) {
      int r0 = y0 + taps.i0[dy];
      int r1 = y0 + taps.i1[dy];
      float b0 = taps.w0[dy];
      float b1 = taps.w1[dy];
      for (int dx = 0; dx < size; dx++) {
        int c0 = x0 + taps.i0[dx];
        int c1 = x0 + taps.i1[dx];
        float a0 = taps.w0[dx];
        float a1 = taps.w1[dx];
        int p00 = frame.rgb(c0, r0);
        int p01 = frame.rgb(c1, r0);
        int p10 = frame.rgb(c0, r1);
        int p11 = frame.rgb(c1, r1);
        int o = base + dy * size + dx;
        for (int c = 0; c < 3; c++) {
          int shift = 16 - 8 * c;
          float h0 = ((p00 >>> shift) & 0xff) * a0 + ((p01 >>> shift) & 0xff) * a1;
          float h1 = ((p10 >>> shift) & 0xff) * a0 + ((p11 >>> shift) & 0xff) * a1;
          float v = h0 * b0 + h1 * b1;
          out[c * chStride + o] = (v / 255f - m[c]) / sd[c];
        }
      }
    }
  }

  /**
   * A whole clip from packed RGB uint8 frames (T, H, W, 3), row-major, as the Python reference
   * takes them: float32 (3, T, S, S).
   */
  public static float[] clip(
      byte[] rgb, int frames, int height, int width, int size, double[] mean, double[] std) {
    if ((long) frames * height * width * 3 != rgb.length) {
      throw new IllegalArgumentException(
          "expected " + frames + "x" + height + "x" + width + "x3 bytes, got " + rgb.length);
    }
    float[] out = new float[clipLength(frames, size)];
    for (int t = 0; t < frames; t++) {
      frameInto(rgbBytes(rgb, t * height * width * 3, width, height), t, frames, size, mean, std, out);
    }
    return out;
  }
}
