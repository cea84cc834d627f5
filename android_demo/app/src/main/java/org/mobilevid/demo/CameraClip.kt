package org.mobilevid.demo

import android.graphics.Bitmap
import android.graphics.Matrix
import android.util.Size
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
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
    private class Frame(val argb: IntArray, val width: Int, val height: Int)

    private val frames = ArrayList<Frame>()
    @Volatile private var recording = false
    private var startNs = 0L
    private var onDone: ((Int) -> Unit)? = null

    /** The use case to bind with Preview; frames are only kept while recording. */
    fun analysis(executor: Executor): ImageAnalysis {
        val selector = ResolutionSelector.Builder()
            .setResolutionStrategy(
                ResolutionStrategy(Size(640, 480), ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER)
            )
            .build()
        return ImageAnalysis.Builder()
            .setResolutionSelector(selector)
            .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
            .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
            .build()
            .also { it.setAnalyzer(executor, ::onImage) }
    }

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
            val bmp = upright(it.toBitmap(), it.imageInfo.rotationDegrees)
            val px = IntArray(bmp.width * bmp.height)
            bmp.getPixels(px, 0, bmp.width, 0, 0, bmp.width, bmp.height)
            val finished: ((Int) -> Unit)?
            val count: Int
            synchronized(this) {
                frames += Frame(px, bmp.width, bmp.height)
                val elapsed = (System.nanoTime() - startNs) / 1e9
                finished = if (frames.size >= maxFrames || elapsed >= seconds) onDone else null
                if (finished != null) {
                    recording = false
                    onDone = null
                }
                count = frames.size
            }
            bmp.recycle()
            finished?.invoke(count)
        }
    }

    private fun upright(bmp: Bitmap, degrees: Int): Bitmap {
        if (degrees == 0) return bmp
        val m = Matrix().apply { postRotate(degrees.toFloat()) }
        val r = Bitmap.createBitmap(bmp, 0, 0, bmp.width, bmp.height, m, false)
        if (r !== bmp) bmp.recycle()
        return r
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
