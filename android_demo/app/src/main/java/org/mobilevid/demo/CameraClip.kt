package org.mobilevid.demo

import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import java.util.concurrent.Executor
import org.mobilevid.core.Preprocess
import org.mobilevid.core.Sampling
import org.mobilevid.core.Sidecar

/**
 * A short camera clip as a frame buffer: CameraX ImageAnalysis frames (RGBA, about 640x480,
 * turned upright) are kept for [seconds] (at most [maxFrames]); the clip is then sampled and
 * preprocessed exactly like a video file of that many frames.
 */
class CameraClip(
    private val seconds: Double = 3.0,
    private val maxFrames: Int = 96,
) {
    private val frames = ArrayList<CameraFrames.Frame>()
    @Volatile private var recording = false
    private var startNs = 0L
    private var onDone: ((Int) -> Unit)? = null

    /** The use case to bind with Preview; frames are only kept while recording. */
    fun analysis(executor: Executor): ImageAnalysis = CameraFrames.analysis(executor, ::onImage)

    /** Starts keeping frames; [done] gets the frame count, on the analysis executor. */
    @Synchronized
    fun record(done: (Int) -> Unit) {
        frames.clear()
        onDone = done
        startNs = System.nanoTime()
        recording = true
    }

    private fun onImage(image: ImageProxy) {
        image.use {
            if (!recording) return
            val frame = CameraFrames.argb(it)
            val finished: ((Int) -> Unit)?
            val count: Int
            synchronized(this) {
                frames += frame
                val elapsed = (System.nanoTime() - startNs) / 1e9
                finished = if (frames.size >= maxFrames || elapsed >= seconds) onDone else null
                if (finished != null) {
                    recording = false
                    onDone = null
                }
                count = frames.size
            }
            finished?.invoke(count)
        }
    }

    /** The recorded frames as one model input (3, T, S, S). */
    @Synchronized
    fun clip(sidecar: Sidecar): FloatArray {
        check(frames.isNotEmpty()) { "no camera frames recorded" }
        val idx = Sampling.indices(frames.size, sidecar.frames, sidecar.frameStride)
        val out = FloatArray(sidecar.inputLength())
        for ((t, i) in idx.withIndex()) {
            val f = frames[i]
            Preprocess.frameInto(
                Preprocess.argbInts(f.argb, f.width, f.height), t, sidecar.frames, sidecar.size,
                sidecar.mean, sidecar.std, out,
            )
        }
        return out
    }

    @Synchronized
    fun clear() = frames.clear()
}
