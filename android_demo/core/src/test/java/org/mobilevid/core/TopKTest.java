package org.mobilevid.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class TopKTest {
  @Test
  public void reproducesPythonVectors() {
    Map<String, Object> d = Vectors.load("topk.json");
    double tol = Vectors.tolerance(d);
    List<Object> cases = Vectors.cases(d);
    long values = 0;
    for (int k = 0; k < cases.size(); k++) {
      Map<String, Object> c = Json.asObject(cases.get(k), "case");
      double[] logits = Json.doubles(c.get("logits"), "logits");
      int topk = Json.asInt(c.get("k"), "k");
      int[] idx = Json.ints(c.get("indices"), "indices");
      double[] probs = Json.doubles(c.get("probs"), "probs");
      TopK.Entry[] got = TopK.topK(logits, topk);
      assertEquals("case " + k + ": k", idx.length, got.length);
      for (int j = 0; j < idx.length; j++) {
        assertEquals("case " + k + " rank " + j + ": index", idx[j], got[j].index);
        assertEquals("case " + k + " rank " + j + ": prob", probs[j], got[j].prob, tol);
      }
      values += 2L * idx.length;
    }
    Vectors.report("topk.json", cases.size(), values);
  }

  @Test
  public void tiesGoToTheLowerIndex() {
    TopK.Entry[] e = TopK.topK(new double[] {1.0, 3.0, -0.0, 3.0, 0.0}, 5);
    int[] order = {1, 3, 0, 2, 4};
    for (int j = 0; j < order.length; j++) assertEquals(order[j], e[j].index);
  }

  @Test
  public void softmaxIsStableForLargeLogits() {
    double[] p = TopK.softmax(new double[] {1000.0, 1000.0, -1000.0});
    assertEquals(0.5, p[0], 1e-12);
    assertEquals(0.5, p[1], 1e-12);
    assertEquals(0.0, p[2], 1e-12);
  }

  @Test
  public void floatLogitsAndKLargerThanN() {
    TopK.Entry[] e = TopK.topK(new float[] {0.5f, 2.5f}, 5);
    assertEquals(2, e.length);
    assertEquals(1, e[0].index);
    assertEquals(1.0 / (1.0 + Math.exp(-2.0)), e[0].prob, 1e-12);
  }

  @Test
  public void rejectsEmptyAndNaN() {
    assertThrows(IllegalArgumentException.class, () -> TopK.topK(new double[0], 1));
    assertThrows(IllegalArgumentException.class, () -> TopK.topK(new double[] {Double.NaN}, 1));
    assertThrows(IllegalArgumentException.class, () -> TopK.topK(new double[] {1}, 0));
  }
}
