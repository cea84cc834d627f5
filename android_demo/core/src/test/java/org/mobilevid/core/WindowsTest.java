package org.mobilevid.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class WindowsTest {
  @Test
  public void reproducesPythonVectors() {
    Map<String, Object> d = Vectors.load("windows.json");
    double tol = Vectors.tolerance(d);
    long values = 0;
    for (Object o : Json.asArray(d.get("hops"), "hops")) {
      Map<String, Object> h = Json.asObject(o, "hop");
      double seconds = Json.asDouble(h.get("seconds"), "seconds");
      double fps = Json.asDouble(h.get("fps"), "fps");
      assertEquals(seconds + " s at " + fps, Json.asInt(h.get("frames"), "frames"),
          Windows.hopFrames(seconds, fps));
      values += 1;
    }
    List<Object> cases = Vectors.cases(d);
    for (int k = 0; k < cases.size(); k++) {
      Map<String, Object> c = Json.asObject(cases.get(k), "case");
      Windows w = new Windows(Json.asInt(c.get("frames"), "frames"),
          Json.asInt(c.get("window"), "window"), Json.asInt(c.get("stride"), "stride"),
          Json.asInt(c.get("hop"), "hop"));
      assertEquals("case " + k + ": span", Json.asInt(c.get("span"), "span"), w.span());
      LiveSchedule live = new LiveSchedule(w);
      String events = Json.asString(c.get("events"), "events");
      List<Object> actions = Json.asArray(c.get("actions"), "actions");
      for (int e = 0; e < events.length(); e++) {
        String where = "case " + k + " event " + e;
        if (events.charAt(e) == 'd') {
          assertNull(where, actions.get(e));
          live.onDone();
          continue;
        }
        Map<String, Object> want = Json.asObject(actions.get(e), "action");
        LiveSchedule.Step got = live.onFrame();
        assertEquals(where, Json.asString(want.get("action"), "action"),
            got.action.name().toLowerCase(java.util.Locale.ROOT));
        assertEquals(where, Json.asLong(want.get("start"), "start"), got.start);
        long[] idx = Json.longs(want.get("indices"), "indices");
        if (got.start >= 0) {
          assertArrayEquals(where, idx, w.indices(got.start, live.received()));
        }
        values += 2 + idx.length;
      }
      assertEquals(Json.asLong(c.get("started"), "started"), live.started());
      assertEquals(Json.asLong(c.get("dropped"), "dropped"), live.dropped());
    }
    for (Object o : Json.asArray(d.get("smoothing"), "smoothing")) {
      Map<String, Object> s = Json.asObject(o, "smoothing");
      Smoother sm = new Smoother(Json.asInt(s.get("size"), "size"));
      List<Object> in = Json.asArray(s.get("inputs"), "inputs");
      List<Object> out = Json.asArray(s.get("outputs"), "outputs");
      for (int i = 0; i < in.size(); i++) {
        assertArrayEquals(Json.doubles(out.get(i), "outputs"),
            sm.add(Json.doubles(in.get(i), "inputs")), tol);
        values += Json.doubles(out.get(i), "outputs").length;
      }
    }
    Vectors.report("windows.json", cases.size(), values);
  }

  @Test
  public void aWindowIsDueEveryHopOnceFull() {
    Windows w = new Windows(3, 3, 1, 2);
    long[] due = new long[8];
    for (int r = 1; r <= 8; r++) due[r - 1] = w.due(r);
    assertArrayEquals(new long[] {-1, -1, 0, -1, 2, -1, 4, -1}, due);
    assertArrayEquals(new long[] {0, 2, 4, 1}, new Windows(4, 4, 2, 3).indices(0, 5)); // looped
  }

  @Test
  public void rejectsBadArguments() {
    assertThrows(IllegalArgumentException.class, () -> new Windows(8, 4, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> new Windows(4, 4, 1, 0));
    assertThrows(IllegalArgumentException.class, () -> new Smoother(0));
    assertEquals(1, Windows.hopFrames(0.001, 30));
  }
}
