package org.mobilevid.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class SamplingTest {
  @Test
  public void reproducesPythonVectors() {
    Map<String, Object> d = Vectors.load("sampling.json");
    List<Object> cases = Vectors.cases(d);
    long values = 0;
    for (Object o : cases) {
      Map<String, Object> c = Json.asObject(o, "case");
      int n = Json.asInt(c.get("video_frames"), "video_frames");
      int frames = Json.asInt(c.get("frames"), "frames");
      Object s = c.get("frame_stride");
      Integer stride = s == null ? null : Json.asInt(s, "frame_stride");
      int[] want = Json.ints(c.get("indices"), "indices");
      assertArrayEquals("n=" + n + " frames=" + frames + " stride=" + stride, want,
          Sampling.indices(n, frames, stride));
      values += want.length;
    }
    Vectors.report("sampling.json", cases.size(), values);
  }

  @Test
  public void uniformCoversTheWholeVideo() {
    assertArrayEquals(new int[] {12, 37, 62, 87}, Sampling.indices(100, 4, null));
    assertArrayEquals(new int[] {0, 0, 1, 1}, Sampling.indices(2, 4, null));
  }

  @Test
  public void stridedIsCentredAndLoops() {
    assertArrayEquals(new int[] {50, 60, 70}, Sampling.indices(130, 3, 10));
    assertArrayEquals(new int[] {0, 4, 3, 2}, Sampling.indices(5, 4, 4));
  }

  @Test
  public void largeVideosDoNotOverflow() {
    int[] idx = Sampling.indices(Integer.MAX_VALUE, 3, null);
    assertArrayEquals(new int[] {357913941, 1073741823, 1789569705}, idx);
  }

  @Test
  public void rejectsEmptyVideoAndBadArguments() {
    assertThrows(IllegalArgumentException.class, () -> Sampling.indices(0, 16, null));
    assertThrows(IllegalArgumentException.class, () -> Sampling.indices(10, 0, null));
    assertThrows(IllegalArgumentException.class, () -> Sampling.indices(10, 4, 0));
  }
}
