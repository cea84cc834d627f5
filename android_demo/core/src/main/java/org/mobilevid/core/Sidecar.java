package org.mobilevid.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * What the app needs from an artifact's sidecar, {@code <artifact>.json} next to the {@code
 * .pte} (mobilevid.export.artifact.describe): the input's name, shape, frame count, size,
 * frame stride, normalisation, the output's name and the labels; for a streaming program
 * (MoViNet-*-Stream) the state tensors it carries between calls ({@link Stream}).
 */
public final class Sidecar {
  /**
   * A streaming program's contract: {@code forward(frames, *state) -> (logits, *state)}, with
   * {@code stepFrames} frames per call; every state tensor starts at zeros and each call's
   * outputs 1.. are the next call's inputs 1.., in this order.
   */
  public static final class Stream {
    public final int stepFrames;
    /** The clip the model is specified with (its logits after that many frames). */
    public final int clipFrames;
    public final List<String> stateNames;
    public final List<long[]> stateShapes;

    Stream(Map<String, Object> d) {
      stepFrames = Json.asInt(Json.get(d, "step_frames", "stream"), "stream.step_frames");
      clipFrames = Json.asInt(Json.get(d, "clip_frames", "stream"), "stream.clip_frames");
      List<String> names = new ArrayList<>();
      List<long[]> shapes = new ArrayList<>();
      List<Object> state = Json.asArray(Json.get(d, "state", "stream"), "stream.state");
      for (int i = 0; i < state.size(); i++) {
        Map<String, Object> t = Json.asObject(state.get(i), "stream.state[" + i + "]");
        names.add(Json.asString(Json.get(t, "name", "state"), "stream.state[" + i + "].name"));
        shapes.add(Json.longs(Json.get(t, "shape", "state"), "stream.state[" + i + "].shape"));
        Object init = t.get("init");
        if (init != null && !"zeros".equals(init)) {
          throw new IllegalArgumentException("stream.state[" + i + "].init must be zeros");
        }
      }
      stateNames = Collections.unmodifiableList(names);
      stateShapes = Collections.unmodifiableList(shapes);
      if (stepFrames < 1 || clipFrames < 1 || names.isEmpty()) {
        throw new IllegalArgumentException("stream needs step_frames, clip_frames and a state");
      }
    }

    /** The zero state: one float array per state tensor, in input order. */
    public float[][] zeroState() {
      float[][] out = new float[stateShapes.size()][];
      for (int i = 0; i < out.length; i++) {
        long n = 1;
        for (long d : stateShapes.get(i)) n *= d;
        out[i] = new float[Math.toIntExact(n)];
      }
      return out;
    }
  }

  public static final String FORMAT = "mobilevid-artifact";
  /** The schema version this core reads (mobilevid.export.schema.SCHEMA_VERSION). */
  public static final int SCHEMA_VERSION = 2;

  /** The file a sidecar belongs to: its parts, total size and sha256. */
  public static final class Artifact {
    public final List<String> files;
    public final long bytes;
    public final String sha256;

    Artifact(Map<String, Object> a) {
      List<Object> raw = Json.asArray(Json.get(a, "files", "artifact"), "artifact.files");
      List<String> fs = new ArrayList<>();
      for (int i = 0; i < raw.size(); i++) {
        fs.add(Json.asString(raw.get(i), "artifact.files[" + i + "]"));
      }
      files = Collections.unmodifiableList(fs);
      bytes = Json.asLong(Json.get(a, "bytes", "artifact"), "artifact.bytes");
      sha256 = Json.asString(Json.get(a, "sha256", "artifact"), "artifact.sha256");
      if (!sha256.matches("[0-9a-f]{64}")) {
        throw new IllegalArgumentException("artifact.sha256 is not a sha256 hex digest");
      }
    }
  }

  public final String format;
  public final int schemaVersion;
  public final Artifact artifact;
  public final String model;
  public final String target;
  public final String backend;
  public final String quantize;
  public final String inputName;
  public final long[] inputShape;
  public final int frames;
  public final int size;
  /** Null: uniform sampling over the whole video. */
  public final Integer frameStride;
  public final double[] mean;
  public final double[] std;
  public final String outputName;
  public final long[] outputShape;
  public final int numClasses;
  public final List<String> labels;
  /** Null: a whole-clip program. */
  public final Stream stream;

  private Sidecar(Map<String, Object> d) {
    format = optString(d, "format");
    if ("mobilevid-artifact/1".equals(format)) {
      throw new IllegalArgumentException(
          "sidecar written by an older mobilevid (schema 1, no integrity record): re-export");
    }
    if (!FORMAT.equals(format)) {
      throw new IllegalArgumentException("not a " + FORMAT + " sidecar (format " + format + ")");
    }
    schemaVersion = Json.asInt(Json.get(d, "schema_version", "sidecar"), "schema_version");
    if (schemaVersion != SCHEMA_VERSION) {
      throw new IllegalArgumentException("sidecar schema " + schemaVersion + ": this app reads "
          + SCHEMA_VERSION + (schemaVersion > SCHEMA_VERSION ? " (update the app)" : " (re-export)"));
    }
    artifact = new Artifact(Json.asObject(Json.get(d, "artifact", "sidecar"), "artifact"));
    model = Json.asString(Json.get(d, "model", "sidecar"), "model");
    target = optString(d, "target");
    backend = optString(d, "backend");
    quantize = optString(d, "quantize");
    Map<String, Object> in = Json.asObject(Json.get(d, "input", "sidecar"), "input");
    inputName = Json.asString(Json.get(in, "name", "input"), "input.name");
    inputShape = Json.longs(Json.get(in, "shape", "input"), "input.shape");
    frames = Json.asInt(Json.get(in, "frames", "input"), "input.frames");
    size = Json.asInt(Json.get(in, "size", "input"), "input.size");
    Object stride = in.get("frame_stride");
    frameStride = stride == null ? null : Json.asInt(stride, "input.frame_stride");
    mean = Json.doubles(Json.get(in, "mean", "input"), "input.mean");
    std = Json.doubles(Json.get(in, "std", "input"), "input.std");
    Map<String, Object> out = Json.asObject(Json.get(d, "output", "sidecar"), "output");
    outputName = Json.asString(Json.get(out, "name", "output"), "output.name");
    outputShape = Json.longs(Json.get(out, "shape", "output"), "output.shape");
    List<String> ls = new ArrayList<>();
    Object labelsValue = d.get("labels");
    if (labelsValue != null) {
      List<Object> raw = Json.asArray(labelsValue, "labels");
      for (int i = 0; i < raw.size(); i++) {
        ls.add(Json.asString(raw.get(i), "labels[" + i + "]"));
      }
    }
    labels = Collections.unmodifiableList(ls);
    Object nc = d.get("num_classes");
    numClasses = nc != null ? Json.asInt(nc, "num_classes") : ls.size();
    Object st = d.get("stream");
    stream = st == null ? null : new Stream(Json.asObject(st, "stream"));
    check();
  }

  private void check() {
    if (mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException("input.mean and input.std need 3 values");
    }
    for (double s : std) {
      if (!(s > 0)) {
        throw new IllegalArgumentException("input.std must be positive");
      }
    }
    if (frames < 1 || size < 1) {
      throw new IllegalArgumentException("input.frames and input.size must be positive");
    }
    if (frameStride != null && frameStride < 1) {
      throw new IllegalArgumentException("input.frame_stride must be null or positive");
    }
    // a streaming program takes step_frames frames per call, a clip program the whole clip
    long t = stream != null ? stream.stepFrames : frames;
    long[] want = {1, 3, t, size, size};
    if (!java.util.Arrays.equals(inputShape, want)) {
      throw new IllegalArgumentException(
          "input.shape " + java.util.Arrays.toString(inputShape) + " is not (1, 3, "
              + (stream != null ? "stream.step_frames" : "frames") + ", size, size)");
    }
    if (!labels.isEmpty() && labels.size() != numClasses) {
      throw new IllegalArgumentException(
          labels.size() + " labels for " + numClasses + " classes");
    }
  }

  private static String optString(Map<String, Object> d, String key) {
    Object v = d.get(key);
    return v == null ? null : Json.asString(v, key);
  }

  public static Sidecar parse(String json) {
    return new Sidecar(Json.asObject(Json.parse(json), "sidecar"));
  }

  /**
   * Refuses an artifact this sidecar was not written for (another model's .pte, or
   * one changed after export): same size, same sha256, computed as mobilevid does
   * (for each part: its name, NUL, its size, NUL, its bytes; a .pte is one part
   * named ".pte"). Call it before loading the program.
   */
  public void checkArtifact(java.io.File file) throws java.io.IOException {
    String where = pathFor(file.getPath()) + " does not belong to " + file.getPath();
    if (artifact.files.size() != 1 || !file.getName().endsWith(artifact.files.get(0))) {
      throw new IllegalArgumentException(where + ": it describes " + artifact.files);
    }
    long size = file.length();
    if (size != artifact.bytes) {
      throw new IllegalArgumentException(
          where + " (" + size + " bytes, not " + artifact.bytes + "): re-export it");
    }
    try (java.io.InputStream in = new java.io.FileInputStream(file)) {
      if (!sha256(artifact.files.get(0), size, in).equals(artifact.sha256)) {
        throw new IllegalArgumentException(where + " (sha256 differs): re-export it");
      }
    }
  }

  /** mobilevid's digest of one part: sha256(name NUL size NUL bytes), in hex. */
  public static String sha256(String name, long size, java.io.InputStream in)
      throws java.io.IOException {
    java.security.MessageDigest md;
    try {
      md = java.security.MessageDigest.getInstance("SHA-256");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    md.update((name + "\0" + size + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    byte[] buf = new byte[1 << 16];
    for (int n; (n = in.read(buf)) > 0; ) {
      md.update(buf, 0, n);
    }
    StringBuilder hex = new StringBuilder();
    for (byte b : md.digest()) {
      hex.append(String.format("%02x", b));
    }
    return hex.toString();
  }

  /** The sidecar's path for an artifact: {@code model.pte} -> {@code model.pte.json}. */
  public static String pathFor(String artifactPath) {
    return artifactPath + ".json";
  }

  /** Number of floats in one input clip (for a streaming program: in one call's frames). */
  public int inputLength() {
    return Preprocess.clipLength(stream != null ? stream.stepFrames : frames, size);
  }

  /** The label of class {@code i}, or "class i" when the sidecar has none. */
  public String label(int i) {
    return i >= 0 && i < labels.size() ? labels.get(i) : "class " + i;
  }
}
