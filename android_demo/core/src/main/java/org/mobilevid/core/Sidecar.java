package org.mobilevid.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * What the app needs from an artifact's sidecar, {@code <artifact>.json} next to the {@code
 * .pte} (mobilevid.export.artifact.describe): the input's name, shape, frame count, size,
 * frame stride, normalisation, the output's name and the labels.
 */
public final class Sidecar {
  public static final String FORMAT = "mobilevid-artifact/1";

  public final String format;
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

  private Sidecar(Map<String, Object> d) {
    format = optString(d, "format");
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
    check();
  }

  private void check() {
    if (format != null && !FORMAT.equals(format)) {
      throw new IllegalArgumentException("not a " + FORMAT + " sidecar (format " + format + ")");
    }
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
    long[] want = {1, 3, frames, size, size};
    if (!java.util.Arrays.equals(inputShape, want)) {
      throw new IllegalArgumentException(
          "input.shape " + java.util.Arrays.toString(inputShape) + " is not (1, 3, frames, size, size)");
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

  /** The sidecar's path for an artifact: {@code model.pte} -> {@code model.pte.json}. */
  public static String pathFor(String artifactPath) {
    return artifactPath + ".json";
  }

  /** Number of floats in one input clip. */
  public int inputLength() {
    return Preprocess.clipLength(frames, size);
  }

  /** The label of class {@code i}, or "class i" when the sidecar has none. */
  public String label(int i) {
    return i >= 0 && i < labels.size() ? labels.get(i) : "class " + i;
  }
}
