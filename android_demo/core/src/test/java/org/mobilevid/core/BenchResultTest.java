package org.mobilevid.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class BenchResultTest {
  private static final BenchResult.DeviceInfo INFO =
      new BenchResult.DeviceInfo("google", "Pixel 7", "Android 14", 8000000000L, 3000000000L);

  @Test
  public void modelNameParts() {
    assertArrayEquals(new String[] {"vmf-560m", "xnnpack", "int8"},
        BenchResult.modelParts("vmf-560m_xnnpack_int8"));
    assertArrayEquals(new String[] {"my_model", "xnnpack", "fp32"},
        BenchResult.modelParts("my_model_xnnpack_fp32"));
    assertArrayEquals(new String[] {"plain", "", ""}, BenchResult.modelParts("plain"));
    assertArrayEquals(new String[] {"a_b", "", ""}, BenchResult.modelParts("a_b"));
    assertArrayEquals(new String[] {"a__", "", ""}, BenchResult.modelParts("a__"));
    assertEquals("vmf-560m_xnnpack_int8",
        BenchResult.stem("/data/local/tmp/mobilevid/vmf-560m_xnnpack_int8.pte"));
  }

  @Test
  public void successIsWhatMobilevidBenchReads() {
    double[] times = {20.1, 19.8, 21.0, 20.5, 19.9, 20.0, 20.2, 20.3, 25.0, 19.0};
    BenchResult r = BenchResult.success(
        "/data/local/tmp/mobilevid/vmf-560m_xnnpack_int8.pte", 0, 3, 10, 41.5, times, INFO);
    Map<String, Object> d = Json.asObject(Json.parse(r.toJson()), "result");
    // the keys and types mobilevid.bench.android.parse_device_results checks
    assertEquals("mobilevid-device-bench/1", d.get("format"));
    assertEquals("vmf-560m_xnnpack_int8", d.get("model"));
    assertEquals(41.5, d.get("model_load_time_ms"));
    assertArrayEquals(times, Json.doubles(d.get("times_ms"), "times_ms"), 0);
    assertTrue(d.containsKey("error"));
    assertNull(d.get("error"));
    assertEquals(0.0, d.get("threads"));
    assertEquals(3.0, d.get("warmup"));
    assertEquals(10.0, d.get("runs"));
    List<Object> metrics = Json.asArray(d.get("metrics"), "metrics");
    assertEquals(4, metrics.size());
    String[] names = {"avg_inference_latency(ms)", "trimmean_inference_latency(ms)",
        "model_load_time(ms)", "load_status"};
    BenchStats s = BenchStats.of(times);
    double[] values = {s.mean, s.trimmean, 41.5, 0.0};
    for (int i = 0; i < names.length; i++) {
      Map<String, Object> m = Json.asObject(metrics.get(i), "metric");
      assertEquals(names[i], m.get("metric"));
      assertEquals(values[i], Json.asDouble(m.get("actualValue"), "actualValue"), 1e-12);
      assertEquals(0.0, m.get("targetValue"));
      Map<String, Object> bm = Json.asObject(m.get("benchmarkModel"), "benchmarkModel");
      assertEquals("vmf-560m", bm.get("name"));
      assertEquals("xnnpack", bm.get("backend"));
      assertEquals("int8", bm.get("quantization"));
      Map<String, Object> di = Json.asObject(m.get("deviceInfo"), "deviceInfo");
      assertEquals("google", di.get("device"));
      assertEquals("Pixel 7", di.get("arch"));
      assertEquals("Android 14", di.get("os"));
      assertEquals(8.0e9, di.get("totalMem"));
      assertEquals(3.0e9, di.get("availMem"));
    }
  }

  @Test
  public void failureHasErrorAndNoTimes() {
    BenchResult r = BenchResult.failure("/x/m.pte", 4, 1, 5, null, "Failed to load method: forward", 32, INFO);
    Map<String, Object> d = Json.asObject(Json.parse(r.toJson()), "result");
    assertEquals("Failed to load method: forward", d.get("error"));
    assertEquals(0, Json.asArray(d.get("times_ms"), "t").size());
    assertNull(d.get("model_load_time_ms"));
    List<Object> metrics = Json.asArray(d.get("metrics"), "metrics");
    assertEquals(1, metrics.size());
    Map<String, Object> m = Json.asObject(metrics.get(0), "m");
    assertEquals("load_status", m.get("metric"));
    assertEquals(32.0, m.get("actualValue"));
  }

  @Test
  public void writesAtomically() throws Exception {
    File dir = Files.createTempDirectory("mvbench").toFile();
    File target = new File(new File(dir, "files"), BenchResult.FILE_NAME);
    BenchResult.failure("m.pte", 0, 0, 1, 12.0, "boom", 0, INFO).writeAtomically(target);
    assertTrue(target.isFile());
    assertFalse(new File(target.getPath() + ".tmp").exists());
    Map<String, Object> d = Json.asObject(
        Json.parse(new String(Files.readAllBytes(target.toPath()), "UTF-8")), "d");
    assertEquals("boom", d.get("error"));
    assertEquals(12.0, d.get("model_load_time_ms"));
    target.delete();
    target.getParentFile().delete();
    dir.delete();
  }
}
