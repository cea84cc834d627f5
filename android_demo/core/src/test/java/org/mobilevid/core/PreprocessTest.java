package org.mobilevid.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class PreprocessTest {
  private static byte[] bytes(Object v) {
    int[] xs = Json.ints(v, "rgb");
    byte[] b = new byte[xs.length];
    for (int i = 0; i < xs.length; i++) {
      if (xs[i] < 0 || xs[i] > 255) throw new IllegalStateException("rgb not uint8");
      b[i] = (byte) xs[i];
    }
    return b;
  }

  @Test
  public void reproducesPythonVectors() {
    Map<String, Object> d = Vectors.load("preprocess.json");
    double tol = Vectors.tolerance(d);
    List<Object> cases = Vectors.cases(d);
    long values = 0;
    for (int k = 0; k < cases.size(); k++) {
      Map<String, Object> c = Json.asObject(cases.get(k), "case");
      int t = Json.asInt(c.get("frames"), "frames");
      int h = Json.asInt(c.get("height"), "height");
      int w = Json.asInt(c.get("width"), "width");
      int size = Json.asInt(c.get("size"), "size");
      double[] mean = Json.doubles(c.get("mean"), "mean");
      double[] std = Json.doubles(c.get("std"), "std");
      double[] want = Json.doubles(c.get("expected"), "expected");
      float[] got = Preprocess.clip(bytes(c.get("rgb")), t, h, w, size, mean, std);
      assertEquals("case " + k + ": length", want.length, got.length);
      double worst = 0;
      int worstAt = -1;
      for (int i = 0; i < want.length; i++) {
        double e = Math.abs(got[i] - want[i]);
        if (!(e <= worst)) {
          worst = e;
          worstAt = i;
        }
      }
      String where = String.format(
          "case %d (T=%d H=%d W=%d S=%d): max |diff| %.3g at flat index %d (3,T,S,S)",
          k, t, h, w, size, worst, worstAt);
      assertTrue(where, worst <= tol);
      values += want.length;
    }
    Vectors.report("preprocess.json", cases.size(), values);
  }

  @Test
  public void argbIntsMatchRgbBytes() {
    int h = 7, w = 11;
    byte[] rgb = new byte[h * w * 3];
    int[] argb = new int[h * w];
    java.util.Random r = new java.util.Random(3);
    for (int i = 0; i < h * w; i++) {
      int p = r.nextInt();
      argb[i] = p; // arbitrary alpha must be ignored
      rgb[3 * i] = (byte) (p >>> 16);
      rgb[3 * i + 1] = (byte) (p >>> 8);
      rgb[3 * i + 2] = (byte) p;
    }
    double[] mean = {0.485, 0.456, 0.406};
    double[] std = {0.229, 0.224, 0.225};
    float[] a = new float[Preprocess.clipLength(2, 5)];
    float[] b = new float[Preprocess.clipLength(2, 5)];
    Preprocess.frameInto(Preprocess.argbInts(argb, w, h), 1, 2, 5, mean, std, a);
    Preprocess.frameInto(Preprocess.rgbBytes(rgb, 0, w, h), 1, 2, 5, mean, std, b);
    for (int i = 0; i < a.length; i++) {
      assertEquals(b[i], a[i], 0.0f);
    }
  }

  @Test
  public void sameSizeIsACropAndNormalise() {
    // 2x4 frame: central square is columns 1..2; size 2 = side, so no interpolation.
    byte[] rgb = new byte[2 * 4 * 3];
    for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) (i * 10);
    double[] mean = {0, 0, 0};
    double[] std = {1, 1, 1};
    float[] out = Preprocess.clip(rgb, 1, 2, 4, 2, mean, std);
    // (c=0, y=0, x=0) is pixel (x=1, y=0) red = byte 3
    assertEquals((30 & 0xff) / 255f, out[0], 0f);
    // (c=2, y=1, x=1) is pixel (x=2, y=1) blue = byte (1*4+2)*3+2 = 20
    assertEquals((200 & 0xff) / 255f, out[2 * 4 + 3], 0f);
  }

  @Test
  public void constantFrameStaysConstant() {
    byte[] rgb = new byte[13 * 9 * 3];
    java.util.Arrays.fill(rgb, (byte) 200);
    float[] out = Preprocess.clip(rgb, 1, 13, 9, 16, new double[] {0.5, 0.5, 0.5},
        new double[] {0.25, 0.25, 0.25});
    for (float v : out) assertEquals((200f / 255f - 0.5f) / 0.25f, v, 1e-6f);
  }

  @Test
  public void rejectsBadShapes() {
    double[] m = {0, 0, 0};
    assertThrows(IllegalArgumentException.class,
        () -> Preprocess.clip(new byte[10], 1, 2, 2, 2, m, m));
    assertThrows(IllegalArgumentException.class,
        () -> Preprocess.frameInto(Preprocess.argbInts(new int[4], 2, 2), 2, 2, 2, m, m, new float[24]));
    assertThrows(IllegalArgumentException.class,
        () -> Preprocess.frameInto(Preprocess.argbInts(new int[4], 2, 2), 0, 1, 2, new double[2], m, new float[12]));
  }
}
