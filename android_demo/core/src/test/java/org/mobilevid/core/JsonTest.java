package org.mobilevid.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
  @Test
  public void parsesAllValueKinds() {
    Map<String, Object> m = Json.asObject(Json.parse(
        " {\"a\": [1, -2.5e2, 0.125, true, false, null], \"b\": {}, \"c\": [], \"d\": \"x\"} "), "m");
    List<Object> a = Json.asArray(m.get("a"), "a");
    assertEquals(1.0, a.get(0));
    assertEquals(-250.0, a.get(1));
    assertEquals(0.125, a.get(2));
    assertEquals(Boolean.TRUE, a.get(3));
    assertEquals(Boolean.FALSE, a.get(4));
    assertNull(a.get(5));
    assertEquals(0, Json.asObject(m.get("b"), "b").size());
    assertEquals("x", m.get("d"));
  }

  @Test
  public void stringEscapes() {
    assertEquals("q\"\\/\b\f\n\r\té😀",
        Json.parse("\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\""));
    String s = "tab\t \"quote\" \u0001 ünï";
    assertEquals(s, Json.parse(Json.write(s)));
  }

  @Test
  public void rejectsMalformedInput() {
    for (String bad : new String[] {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"abc",
        "[1] 2", "{\"a\":1,}", "\"\t\"", "nan", "1e"}) {
      assertThrows(bad, Json.ParseException.class, () -> Json.parse(bad));
    }
  }

  @Test
  public void writesRoundTrips() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("times", new double[] {1.5, 2.0E-5, 123456.789});
    m.put("shape", new long[] {1, 3, 16, 64, 64});
    m.put("n", 3);
    m.put("none", null);
    m.put("nan", Double.NaN);
    m.put("list", Arrays.asList("a", 1.0, false));
    Map<String, Object> back = Json.asObject(Json.parse(Json.write(m)), "m");
    assertEquals(Arrays.asList(1.5, 2.0E-5, 123456.789), back.get("times"));
    assertEquals(Arrays.asList(1.0, 3.0, 16.0, 64.0, 64.0), back.get("shape"));
    assertEquals(3.0, back.get("n"));
    assertNull(back.get("none"));
    assertNull(back.get("nan"));
    assertEquals(Arrays.asList("a", 1.0, false), back.get("list"));
  }

  @Test
  public void integerAccessors() {
    assertEquals(16, Json.asInt(16.0, "x"));
    assertThrows(IllegalArgumentException.class, () -> Json.asInt(1.5, "x"));
    assertThrows(IllegalArgumentException.class, () -> Json.asInt("1", "x"));
  }
}
