package org.mobilevid.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class StreamSidecarTest {
  @Test
  public void readsTheStateAStreamingProgramCarries() {
    Map<String, Object> d = Vectors.load("stream_sidecar.json");
    Map<String, Object> want = Json.asObject(d.get("expected"), "expected");
    Sidecar s = Sidecar.parse(Json.write(d.get("sidecar")));
    int checked = 0;
    assertArrayEquals(Json.longs(want.get("input_shape"), "input_shape"), s.inputShape); checked++;
    assertEquals(Json.asInt(want.get("step_frames"), "step_frames"), s.stream.stepFrames); checked++;
    assertEquals(Json.asInt(want.get("clip_frames"), "clip_frames"), s.stream.clipFrames); checked++;
    List<Object> names = Json.asArray(want.get("state_names"), "state_names");
    List<Object> shapes = Json.asArray(want.get("state_shapes"), "state_shapes");
    assertEquals(names.size(), s.stream.stateNames.size());
    for (int i = 0; i < names.size(); i++) {
      assertEquals(names.get(i), s.stream.stateNames.get(i)); checked++;
      assertArrayEquals(Json.longs(shapes.get(i), "shape"), s.stream.stateShapes.get(i)); checked++;
    }
    long floats = 0;
    for (float[] t : s.stream.zeroState()) {
      for (float v : t) assertEquals(0f, v, 0f);
      floats += t.length;
    }
    assertEquals(Json.asInt(want.get("state_floats"), "state_floats"), floats); checked++;
    assertEquals(Json.asInt(want.get("input_length"), "input_length"), s.inputLength()); checked++;
    Vectors.report("stream_sidecar.json", 1, checked);
  }

  @Test
  public void clipSidecarHasNoStreamAndAStreamNeedsItsShape() {
    assertNull(Sidecar.parse(Json.write(Vectors.load("sidecar.json").get("sidecar"))).stream);
    Map<String, Object> m =
        Json.asObject(Vectors.load("stream_sidecar.json").get("sidecar"), "sidecar");
    Json.asObject(m.get("stream"), "stream").put("step_frames", 2.0);
    assertThrows(IllegalArgumentException.class, () -> Sidecar.parse(Json.write(m)));
  }
}
