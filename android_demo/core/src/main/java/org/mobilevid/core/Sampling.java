package org.mobilevid.core;

/**
 * Which frames of a video make the clip: mobilevid.data.video.sample_indices, exactly.
 *
 * <ul>
 *   <li>no stride: the centre of each of {@code frames} equal segments of the whole video,
 *       {@code ((2i + 1) n) / (2 frames)} in integer arithmetic;
 *   <li>stride s: {@code frames} indices s apart, starting at {@code max(0, (n - frames*s) / 2)}
 *       (floor division), looped modulo n when the video is shorter than the span.
 * </ul>
 */
public final class Sampling {
  private Sampling() {}

  /**
   * @param videoFrames frames in the video (n, at least 1)
   * @param frames frames in the clip (T)
   * @param frameStride null for uniform sampling over the whole video
   */
  public static int[] indices(int videoFrames, int frames, Integer frameStride) {
    if (videoFrames < 1) {
      throw new IllegalArgumentException("video has no frames");
    }
    if (frames < 1) {
      throw new IllegalArgumentException("a clip needs at least one frame, got " + frames);
    }
    long n = videoFrames;
    int[] out = new int[frames];
    if (frameStride == null) {
      for (int i = 0; i < frames; i++) {
        out[i] = (int) (((2L * i + 1) * n) / (2L * frames)); // all non-negative: / is floor
      }
      return out;
    }
    long stride = frameStride;
    if (stride < 1) {
      throw new IllegalArgumentException("frame_stride must be at least 1, got " + stride);
    }
    long span = frames * stride;
    long start = Math.max(0, Math.floorDiv(n - span, 2L));
    for (int i = 0; i < frames; i++) {
      out[i] = (int) Math.floorMod(start + i * stride, n);
    }
    return out;
  }
}
