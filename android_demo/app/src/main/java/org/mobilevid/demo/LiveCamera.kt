package org.mobilevid.demo

import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import java.util.concurrent.Executor
import org.mobilevid.core.LiveSchedule
import org.mobilevid.core.Preprocess
import org.mobilevid.core.Sidecar
import org.mobilevid.core.Smoother
import org.mobilevid.core.Windows

/**
 * Live recognition on the camera: a rolling buffer holds the last window's span of frames,
 * already cropped, resized and normalised (one (3, S, S) slot per frame, so memory is
 * span x 3 x S x S floats whatever the session's length); every hop the newest window is
 * classified on [worker], never more than one at a time: a window that comes due while one is
 * in flight is dropped, not queued ([LiveSchedule]), so the label follows the camera.
 *
 * The window arithmetic and the smoothing are the core's ([Windows], [Smoother]), checked against
 * the Python reference (`mobilevid predict --over-time` follows the same rules on a file).
 *
 * @param hopSeconds time between two classifications, as frames at [fps] ([Windows.hopFrames])
 * @param fps the camera's nominal analysis rate (CameraX delivers about 30)
 * @param smooth windows whose probabilities are averaged for the label shown
 */
class LiveCamera(
    private val classifier: Classifier,
    private val worker: Executor,
    hopSeconds: Double = 0.5,
    fps: Double = 30.0,
    smooth: Int = 3,
    private val onUpdate: (Update) -> Unit,
) {
    /** What the screen shows after each classification. */
    data class Update(
        val label: String,
        val score: Double,
        val latencyMs: Double,
        val windowSeconds: Double,
        val classified: Long,
        val dropped: Long,
    )

    private val side: Sidecar = classifier.sidecar
    val windows = Windows(side.frames, side.frames, side.frameStride ?: 1, Windows.hopFrames(hopSeconds, fps))
    private val schedule = LiveSchedule(windows)
    private val smoother = Smoother(smooth)
    private val plane = side.size * side.size
    private val ring = Array(windows.span()) { FloatArray(3 * plane) }
    private val windowSeconds = windows.span() / fps
    @Volatile private var running = true

    /** The use case to bind with Preview. */
    fun analysis(executor: Executor): ImageAnalysis = CameraFrames.analysis(executor, ::onImage)

    fun stop() {
        running = false
    }

    /** On the analysis executor: one slot of the ring per frame, then maybe a classification. */
    private fun onImage(image: ImageProxy) {
        image.use {
            if (!running) return
            val f = CameraFrames.argb(it)
            val frame = schedule.received() // the number this frame gets
            Preprocess.frameInto(
                Preprocess.argbInts(f.argb, f.width, f.height), 0, 1, side.size, side.mean, side.std,
                ring[(frame % ring.size).toInt()],
            )
            val step = schedule.onFrame()
            if (step.action != LiveSchedule.Action.CLASSIFY) return
            val clip = assemble(windows.indices(step.start, schedule.received()))
            worker.execute { classify(clip) }
        }
    }

    /** (3, T, S, S) from the ring slots of the window's frames. */
    private fun assemble(frames: LongArray): FloatArray {
        val t = frames.size
        val out = FloatArray(3 * t * plane)
        for ((k, f) in frames.withIndex()) {
            val slot = ring[(f % ring.size).toInt()]
            for (c in 0 until 3) System.arraycopy(slot, c * plane, out, (c * t + k) * plane, plane)
        }
        return out
    }

    /** On [worker]. */
    private fun classify(clip: FloatArray) {
        try {
            if (!running) return
            val r = classifier.classify(clip)
            val probs = smoother.add(r.probs)
            var best = 0 // the first of equal maxima, as TopK orders ties
            for (i in probs.indices) if (probs[i] > probs[best]) best = i
            onUpdate(
                Update(side.label(best), probs[best], r.latencyMs, windowSeconds,
                    schedule.started(), schedule.dropped()),
            )
        } finally {
            schedule.onDone()
        }
    }
}
