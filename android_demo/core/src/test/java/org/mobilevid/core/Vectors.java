package org.mobilevid.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

/**
 * The shared test vectors that tests/app_vectors/generate.py writes from the Python reference.
 * Found via the system property {@code mobilevid.vectors} (run_tests.sh sets it), else by
 * walking up from the working directory to {@code tests/app_vectors}.
 */
final class Vectors {
  static final String FORMAT = "mobilevid-app-vectors/1";

  private Vectors() {}

  static File dir() {
    String p = System.getProperty("mobilevid.vectors");
    if (p != null && !p.isEmpty()) {
      File d = new File(p);
      if (!d.isDirectory()) {
        throw new IllegalStateException("mobilevid.vectors=" + p + " is not a directory");
      }
      return d;
    }
    for (File d = new File("").getAbsoluteFile(); d != null; d = d.getParentFile()) {
      File v = new File(d, "tests/app_vectors");
      if (v.isDirectory()) return v;
    }
    throw new IllegalStateException(
        "tests/app_vectors not found: pass -Dmobilevid.vectors=DIR or run from the repository");
  }

  static Map<String, Object> load(String name) {
    File f = new File(dir(), name);
    try {
      Map<String, Object> d =
          Json.asObject(Json.parse(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8)), name);
      if (!FORMAT.equals(d.get("format"))) {
        throw new IllegalStateException(f + ": not " + FORMAT);
      }
      return d;
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + f + ": " + e.getMessage(), e);
    }
  }

  static List<Object> cases(Map<String, Object> d) {
    List<Object> c = Json.asArray(d.get("cases"), "cases");
    if (c.isEmpty()) throw new IllegalStateException("no cases");
    return c;
  }

  static double tolerance(Map<String, Object> d) {
    return Json.asDouble(d.get("tolerance"), "tolerance");
  }

  /** One line per vector file so the run shows how much was checked. */
  static void report(String file, int cases, long values) {
    System.out.println("  vectors " + file + ": " + cases + " cases, " + values + " values checked");
  }
}
