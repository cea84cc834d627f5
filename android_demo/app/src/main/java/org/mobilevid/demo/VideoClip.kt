package org.mobilevid.demo

import android.content.Context
import android.graphics.Bitmap
import android.media.MediaMetadataRetriever
import android.net.Uri
import android.os.Build
import org.mobilevid.core.Preprocess
import org.mobilevid.core.Sampling
import org.mobilevid.core.Sidecar

/**
 * One clip from a video file, as mobilevid.data.video.load_clip makes it: the frame indices from
 * [Sampling] (over the frame count), each frame decoded and fed straight into [Preprocess], so
 * memory holds one decoded frame at a time plus the (3, T, S, S) output.
 */
object VideoClip {
    fun load(context: Context, uri: Uri, sidecar: Sidecar): FloatArray {
        val mmr = MediaMetadataRetriever()
        try {
            mmr.setDataSource(context, uri)
            val out = FloatArray(sidecar.inputLength())
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
                val n = mmr.extractMetadata(MediaMetadataRetriever.METADATA_KEY_VIDEO_FRAME_COUNT)
                    ?.toIntOrNull() ?: 0
                require(n > 0) { "the video has no frame count (corrupt or not a video)" }
                val idx = Sampling.indices(n, sidecar.frames, sidecar.frameStride)
                var cached: Pair<Int, Bitmap>? = null // repeated indices (short videos) decode once
                for ((t, i) in idx.withIndex()) {
                    val bmp = cached?.takeIf { it.first == i }?.second
                        ?: (mmr.getFrameAtIndex(i)
                            ?: throw IllegalStateException("the video ends before frame $i (truncated or corrupt)"))
                    feed(bmp, t, sidecar, out)
                    if (cached?.second !== bmp) cached?.second?.recycle()
                    cached = i to bmp
                }
                cached?.second?.recycle()
            } else {
                // Android 8.x has no frame index API: seek by time, n from duration and frame rate.
                val durUs = (mmr.extractMetadata(MediaMetadataRetriever.METADATA_KEY_DURATION)
                    ?.toLongOrNull() ?: 0L) * 1000L
                require(durUs > 0) { "the video has no duration (corrupt or not a video)" }
                val fps = mmr.extractMetadata(MediaMetadataRetriever.METADATA_KEY_CAPTURE_FRAMERATE)
                    ?.toDoubleOrNull()?.takeIf { it > 0 } ?: 30.0
                val n = maxOf(1, (durUs / 1e6 * fps).toInt())
                val idx = Sampling.indices(n, sidecar.frames, sidecar.frameStride)
                for ((t, i) in idx.withIndex()) {
                    val us = (i / fps * 1e6).toLong()
                    val bmp = mmr.getFrameAtTime(us, MediaMetadataRetriever.OPTION_CLOSEST)
                        ?: throw IllegalStateException("cannot decode the frame at ${us / 1000} ms")
                    feed(bmp, t, sidecar, out)
                    bmp.recycle()
                }
            }
            return out
        } finally {
            mmr.release()
        }
    }

    /** Crop, resize and normalise one decoded frame into time slot [t]. */
    fun feed(bmp: Bitmap, t: Int, sidecar: Sidecar, out: FloatArray) {
        val argb = if (bmp.config == Bitmap.Config.ARGB_8888) bmp else bmp.copy(Bitmap.Config.ARGB_8888, false)
        val px = IntArray(argb.width * argb.height)
        argb.getPixels(px, 0, argb.width, 0, 0, argb.width, argb.height)
        if (argb !== bmp) argb.recycle()
        Preprocess.frameInto(
            Preprocess.argbInts(px, bmp.width, bmp.height), t, sidecar.frames, sidecar.size,
            sidecar.mean, sidecar.std, out,
        )
    }
}
