package org.mobilevid.demo

import android.graphics.Bitmap
import android.graphics.Matrix
import android.util.Size
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import java.util.concurrent.Executor

/** Camera frames as the Java core takes them, shared by [CameraClip] and [LiveCamera]. */
object CameraFrames {
    /** One upright frame as ARGB ints. */
    class Frame(val argb: IntArray, val width: Int, val height: Int)

    /**
     * CameraX ImageAnalysis at about 640x480, RGBA, keeping only the latest frame when the
     * analyzer is slower than the camera (late frames are dropped, never queued).
     */
    fun analysis(executor: Executor, analyzer: (ImageProxy) -> Unit): ImageAnalysis {
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
            .also { it.setAnalyzer(executor, analyzer) }
    }

    /** The image turned upright (its rotationDegrees applied) as ARGB ints. */
    fun argb(image: ImageProxy): Frame {
        val bmp = upright(image.toBitmap(), image.imageInfo.rotationDegrees)
        val px = IntArray(bmp.width * bmp.height)
        bmp.getPixels(px, 0, bmp.width, 0, 0, bmp.width, bmp.height)
        val frame = Frame(px, bmp.width, bmp.height)
        bmp.recycle()
        return frame
    }

    private fun upright(bmp: Bitmap, degrees: Int): Bitmap {
        if (degrees == 0) return bmp
        val m = Matrix().apply { postRotate(degrees.toFloat()) }
        val r = Bitmap.createBitmap(bmp, 0, 0, bmp.width, bmp.height, m, false)
        if (r !== bmp) bmp.recycle()
        return r
    }
}
