package org.mobilevid.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The file BenchmarkActivity leaves for {@code mobilevid bench} ({@code mobilevid-device-bench/1},
 * read by mobilevid.bench.android.parse_device_results), with ExecuTorch Minibench's
 * BenchmarkMetric records in {@code metrics} so that Minibench/dashboard tooling reads it too.
 */
public final class BenchResult {
  public static final String FORMAT = "mobilevid-device-bench/1";
  public static final String FILE_NAME = "benchmark_results.json";

  /** Minibench's deviceInfo record (Build.BRAND, Build.MODEL, "Android " + RELEASE, memory). */
  public static final class DeviceInfo {
    public final String device;
    public final String arch;
    public final String os;
    public final long totalMem;
    public final long availMem;

    public DeviceInfo(String device, String arch, String os, long totalMem, long availMem) {
      this.device = device;
      this.arch = arch;
      this.os = os;
      this.totalMem = totalMem;
      this.availMem = availMem;
    }

    Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("device", device);
      m.put("arch", arch);
      m.put("os", os);
      m.put("totalMem", totalMem);
      m.put("availMem", availMem);
      return m;
    }
  }

  public final String model;
  public final int threads;
  public final int warmup;
  public final int runs;
  /** Null when loading did not finish. */
  public final Double modelLoadTimeMs;
  public final double[] timesMs;
  /** Null on success. */
  public final String error;
  /** Minibench load_status: 0 loaded, else the ExecuTorch error code (or 1). */
  public final int loadStatus;
  public final DeviceInfo deviceInfo;

  private BenchResult(
      String model, int threads, int warmup, int runs, Double modelLoadTimeMs, double[] timesMs,
      String error, int loadStatus, DeviceInfo deviceInfo) {
    this.model = model;
    this.threads = threads;
    this.warmup = warmup;
    this.runs = runs;
    this.modelLoadTimeMs = modelLoadTimeMs;
    this.timesMs = timesMs;
    this.error = error;
    this.loadStatus = loadStatus;
    this.deviceInfo = deviceInfo;
  }

  public static BenchResult success(
      String modelPath, int threads, int warmup, int runs, double loadMs, double[] timesMs,
      DeviceInfo info) {
    if (timesMs.length == 0) {
      throw new IllegalArgumentException("a successful run has timed runs");
    }
    return new BenchResult(stem(modelPath), threads, warmup, runs, loadMs, timesMs.clone(), null, 0, info);
  }

  /**
   * @param loadMs the load time if loading finished, else null
   * @param loadStatus ExecuTorch's error code when loading failed, 0 when it was a later step
   */
  public static BenchResult failure(
      String modelPath, int threads, int warmup, int runs, Double loadMs, String error,
      int loadStatus, DeviceInfo info) {
    String msg = error == null || error.isEmpty() ? "unknown error" : error;
    return new BenchResult(stem(modelPath), threads, warmup, runs, loadMs, new double[0], msg, loadStatus, info);
  }

  /** {@code /data/local/tmp/mobilevid/vmf-560m_xnnpack_int8.pte} -> {@code vmf-560m_xnnpack_int8}. */
  public static String stem(String path) {
    String name = new File(path).getName();
    return name.endsWith(".pte") ? name.substring(0, name.length() - 4) : name;
  }

  /**
   * {name, backend, quantization} from {@code <name>_<backend>_<quant>}, split at the last two
   * underscores (names may contain '-' and '_'); {stem, "", ""} when it has fewer parts.
   */
  public static String[] modelParts(String stem) {
    int q = stem.lastIndexOf('_');
    int b = q > 0 ? stem.lastIndexOf('_', q - 1) : -1;
    if (b <= 0 || q == stem.length() - 1 || q - b < 2) {
      return new String[] {stem, "", ""};
    }
    return new String[] {stem.substring(0, b), stem.substring(b + 1, q), stem.substring(q + 1)};
  }

  private Map<String, Object> metric(Map<String, Object> bm, String name, double value) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("benchmarkModel", bm);
    m.put("metric", name);
    m.put("actualValue", value);
    m.put("targetValue", 0.0);
    m.put("deviceInfo", deviceInfo != null ? deviceInfo.toMap() : null);
    return m;
  }

  public List<Map<String, Object>> metrics() {
    String[] parts = modelParts(model);
    Map<String, Object> bm = new LinkedHashMap<>();
    bm.put("name", parts[0]);
    bm.put("backend", parts[1]);
    bm.put("quantization", parts[2]);
    List<Map<String, Object>> out = new ArrayList<>();
    if (error == null) {
      BenchStats s = BenchStats.of(timesMs);
      out.add(metric(bm, "avg_inference_latency(ms)", s.mean));
      out.add(metric(bm, "trimmean_inference_latency(ms)", s.trimmean));
    }
    if (modelLoadTimeMs != null) {
      out.add(metric(bm, "model_load_time(ms)", modelLoadTimeMs));
    }
    out.add(metric(bm, "load_status", error == null ? 0.0 : (loadStatus != 0 ? loadStatus : 1)));
    return out;
  }

  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", FORMAT);
    m.put("model", model);
    m.put("threads", threads);
    m.put("warmup", warmup);
    m.put("runs", runs);
    m.put("model_load_time_ms", modelLoadTimeMs);
    m.put("times_ms", timesMs);
    m.put("error", error);
    m.put("metrics", metrics());
    return m;
  }

  public String toJson() {
    return Json.write(toMap());
  }

  /**
   * Write to {@code <target>.tmp}, then rename onto {@code target}, so that a reader polling for
   * the file never sees half of it.
   */
  public void writeAtomically(File target) throws IOException {
    File dir = target.getAbsoluteFile().getParentFile();
    if (dir != null && !dir.isDirectory() && !dir.mkdirs()) {
      throw new IOException("cannot create " + dir);
    }
    File tmp = new File(target.getPath() + ".tmp");
    try (FileOutputStream fos = new FileOutputStream(tmp);
        Writer w = new OutputStreamWriter(fos, StandardCharsets.UTF_8)) {
      w.write(toJson());
      w.write('\n');
      w.flush();
      fos.getFD().sync();
    }
    if (!tmp.renameTo(target)) {
      tmp.delete();
      throw new IOException("cannot rename " + tmp + " to " + target);
    }
  }
}
