package org.mobilevid.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Map;
import org.junit.Test;

public class SidecarTest {
  private static Map<String, Object> vector() {
    return Vectors.load("sidecar.json");
  }

  private static String sidecarText() {
    return Json.write(vector().get("sidecar"));
  }

  @Test
  public void readsTheRealSidecar() {
    Map<String, Object> d = vector();
    Map<String, Object> want = Json.asObject(d.get("expected"), "expected");
    Sidecar s = Sidecar.parse(Json.write(d.get("sidecar")));
    int checked = 0;
    assertEquals(want.get("model"), s.model); checked++;
    assertEquals(want.get("input_name"), s.inputName); checked++;
    assertEquals(want.get("output_name"), s.outputName); checked++;
    assertArrayEquals(Json.longs(want.get("input_shape"), "input_shape"), s.inputShape); checked++;
    assertEquals(Json.asInt(want.get("frames"), "frames"), s.frames); checked++;
    assertEquals(Json.asInt(want.get("size"), "size"), s.size); checked++;
    Object stride = want.get("frame_stride");
    if (stride == null) assertNull(s.frameStride);
    else assertEquals(Integer.valueOf(Json.asInt(stride, "frame_stride")), s.frameStride);
    checked++;
    assertArrayEquals(Json.doubles(want.get("mean"), "mean"), s.mean, 0); checked++;
    assertArrayEquals(Json.doubles(want.get("std"), "std"), s.std, 0); checked++;
    assertEquals(Json.asInt(want.get("num_classes"), "num_classes"), s.numClasses); checked++;
    assertEquals(Json.asInt(want.get("labels_count"), "labels_count"), s.labels.size()); checked++;
    assertEquals(want.get("label_0"), s.label(0)); checked++;
    assertEquals(want.get("label_399"), s.label(399)); checked++;
    assertEquals(want.get("artifact_sha256"), s.artifact.sha256); checked++;
    assertEquals(Json.asLong(want.get("artifact_bytes"), "bytes"), s.artifact.bytes); checked++;
    assertEquals(want.size(), checked);
    Vectors.report("sidecar.json", 1, checked);
  }

  @Test
  public void readsTheFileAsWritten() throws Exception {
    // the committed file's own bytes (indent=1), not a re-serialisation
    String raw = new String(java.nio.file.Files.readAllBytes(
        new java.io.File(Vectors.dir(), "sidecar.json").toPath()), "UTF-8");
    Map<String, Object> d = Json.asObject(Json.parse(raw), "file");
    assertEquals("executorch", Json.asObject(d.get("sidecar"), "s").get("target"));
  }

  @Test
  public void stridedSidecarAndMissingLabels() {
    String text = sidecarText()
        .replace("\"frame_stride\": null", "\"frame_stride\": 4");
    Map<String, Object> m = Json.asObject(Json.parse(text), "s");
    m.remove("labels");
    Sidecar s = Sidecar.parse(Json.write(m));
    assertEquals(Integer.valueOf(4), s.frameStride);
    assertEquals("class 7", s.label(7));
  }

  private static java.io.File standIn(Map<String, Object> d) throws Exception {
    String hex = Json.asString(d.get("artifact_hex"), "artifact_hex");
    byte[] bytes = new byte[hex.length() / 2];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
    }
    java.io.File f = java.io.File.createTempFile("stand-in", ".pte");
    f.deleteOnExit();
    java.nio.file.Files.write(f.toPath(), bytes);
    return f;
  }

  @Test
  public void checksTheArtifactItBelongsTo() throws Exception {
    Map<String, Object> d = vector();
    Sidecar s = Sidecar.parse(sidecarText());
    Map<String, Object> want = Json.asObject(d.get("expected"), "expected");
    assertEquals(want.get("artifact_sha256"), s.artifact.sha256);
    java.io.File f = standIn(d);
    s.checkArtifact(f); // the bytes Python hashed: accepted
    byte[] b = java.nio.file.Files.readAllBytes(f.toPath());
    b[b.length / 2] ^= 1; // one flipped bit, same size
    java.nio.file.Files.write(f.toPath(), b);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> s.checkArtifact(f));
    assertTrue(e.getMessage(), e.getMessage().contains("sha256 differs"));
    java.nio.file.Files.write(f.toPath(), java.util.Arrays.copyOf(b, b.length - 1));
    e = assertThrows(IllegalArgumentException.class, () -> s.checkArtifact(f));
    assertTrue(e.getMessage(), e.getMessage().contains("bytes"));
  }

  @Test
  public void refusesOtherSchemasAndAMissingRecord() {
    Map<String, Object> m = Json.asObject(Json.parse(sidecarText()), "s");
    m.put("schema_version", 3.0);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Sidecar.parse(Json.write(m)));
    assertTrue(e.getMessage(), e.getMessage().contains("update the app"));
    m.put("schema_version", 2.0);
    m.remove("artifact");
    e = assertThrows(IllegalArgumentException.class, () -> Sidecar.parse(Json.write(m)));
    assertTrue(e.getMessage(), e.getMessage().contains("artifact"));
    m.put("format", "mobilevid-artifact/1");
    e = assertThrows(IllegalArgumentException.class, () -> Sidecar.parse(Json.write(m)));
    assertTrue(e.getMessage(), e.getMessage().contains("re-export"));
  }

  @Test
  public void pathIsArtifactPlusJson() {
    assertEquals("/data/local/tmp/mobilevid/m_xnnpack_fp32.pte.json",
        Sidecar.pathFor("/data/local/tmp/mobilevid/m_xnnpack_fp32.pte"));
  }

  @Test
  public void rejectsInconsistentSidecars() {
    String good = sidecarText();
    Map<String, Object> m = Json.asObject(Json.parse(good), "s");
    Json.asObject(m.get("input"), "input").put("frames", 8.0);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Sidecar.parse(Json.write(m)));
    assertTrue(e.getMessage(), e.getMessage().contains("input.shape"));
    Map<String, Object> m2 = Json.asObject(Json.parse(good), "s");
    m2.remove("input");
    e = assertThrows(IllegalArgumentException.class, () -> Sidecar.parse(Json.write(m2)));
    assertTrue(e.getMessage(), e.getMessage().contains("\"input\""));
    assertThrows(Json.ParseException.class, () -> Sidecar.parse("{\"model\": "));
  }
}
