package org.mobilevid.core;

/**
 * The live camera loop's bookkeeping (mobilevid.data.windows.LiveSchedule): a window is due
 * every hop; it is classified only when no classification is in flight, otherwise it is dropped,
 * never queued, so the label on screen is never more than one window behind the camera.
 *
 * <p>Call {@link #onFrame()} on the camera thread for every frame and {@link #onDone()} when a
 * classification returns; both are synchronized, so the two threads may call them.
 */
public final class LiveSchedule {
  public enum Action {
    CLASSIFY,
    DROP,
    WAIT
  }

  /** What to do with the frame that just arrived. */
  public static final class Step {
    public final Action action;
    /** First frame of the due window, or -1. */
    public final long start;

    Step(Action action, long start) {
      this.action = action;
      this.start = start;
    }
  }

  private final Windows windows;
  private long received;
  private boolean busy;
  private long started;
  private long dropped;

  public LiveSchedule(Windows windows) {
    this.windows = windows;
  }

  public synchronized Step onFrame() {
    received += 1;
    long start = windows.due(received);
    if (start < 0) return new Step(Action.WAIT, -1);
    if (busy) {
      dropped += 1;
      return new Step(Action.DROP, start);
    }
    busy = true;
    started += 1;
    return new Step(Action.CLASSIFY, start);
  }

  public synchronized void onDone() {
    busy = false;
  }

  public synchronized long received() {
    return received;
  }

  public synchronized long started() {
    return started;
  }

  public synchronized long dropped() {
    return dropped;
  }
}
