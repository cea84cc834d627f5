package org.mobilevid.demo

import android.Manifest
import android.content.pm.PackageManager
import android.net.Uri
import android.os.Bundle
import android.view.View
import android.widget.Button
import android.widget.TextView
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import java.io.File
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * The demo: pick a model (.pte + .pte.json), then a video from the device, a short camera clip,
 * or the live camera (a new label every half second, [LiveCamera]); frames are sampled and
 * preprocessed as the sidecar says (org.mobilevid.core), the model runs on a background thread,
 * and the top-5 classes with their probabilities and the latency are shown.
 */
class MainActivity : AppCompatActivity() {
    /** Model loading, decoding, preprocessing and inference: never on the UI thread. */
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private val cameraExecutor: ExecutorService = Executors.newSingleThreadExecutor()

    private var classifier: Classifier? = null // touched only on [worker]
    private var cameraClip: CameraClip? = null
    private var live: LiveCamera? = null
    private var wantLive = false

    private lateinit var modelInfo: TextView
    private lateinit var results: TextView
    private lateinit var preview: PreviewView
    private lateinit var liveLabel: TextView
    private lateinit var liveButton: Button

    private val pickModel =
        registerForActivityResult(ActivityResultContracts.OpenMultipleDocuments()) { uris ->
            if (uris.isEmpty()) return@registerForActivityResult
            worker.execute {
                try {
                    val ptes = ModelStore.import(this, uris)
                    val pte = ptes.firstOrNull()
                        ?: throw IllegalArgumentException("pick the .pte together with its .pte.json")
                    loadModel(pte)
                } catch (e: Exception) {
                    show(results, "Could not import the model: ${e.message}")
                }
            }
        }

    private val pickVideo =
        registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri: Uri? ->
            if (uri != null) classifyVideo(uri)
        }

    private val cameraPermission =
        registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
            when {
                !granted -> show(results, "The camera needs the camera permission.")
                wantLive -> startLive()
                else -> startCamera()
            }
        }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        modelInfo = findViewById(R.id.modelInfo)
        results = findViewById(R.id.results)
        preview = findViewById(R.id.preview)
        liveLabel = findViewById(R.id.liveLabel)
        liveButton = findViewById(R.id.live)

        findViewById<Button>(R.id.pickModel).setOnClickListener {
            pickModel.launch(arrayOf("application/octet-stream", "application/json", "*/*"))
        }
        findViewById<Button>(R.id.pickVideo).setOnClickListener {
            pickVideo.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.VideoOnly))
        }
        findViewById<Button>(R.id.cameraClip).setOnClickListener { stopLive(); onCameraButton() }
        liveButton.setOnClickListener { onLiveButton() }

        // A model given on the command line (am start -n org.mobilevid.demo/.MainActivity
        // --es model /data/local/tmp/mobilevid/X.pte), else the newest one in the model folders.
        val given = intent.getStringExtra("model")?.let(::File)
        worker.execute {
            val pte = given ?: ModelStore.models(this).firstOrNull()
            if (pte != null) loadModel(pte)
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        live?.stop()
        cameraExecutor.shutdown()
        worker.execute { classifier?.close(); classifier = null }
        worker.shutdown()
    }

    /** On [worker]. */
    private fun loadModel(pte: File) {
        show(modelInfo, "Loading ${pte.name}…")
        classifier?.close()
        classifier = null
        try {
            val c = Classifier.load(pte)
            classifier = c
            val s = c.sidecar
            val sampling = s.frameStride?.let { "stride $it" } ?: "uniform"
            show(
                modelInfo,
                String.format(
                    Locale.US, "%s (%s): %d frames (%s) at %d², %d classes; loaded in %.0f ms",
                    pte.name, s.model, s.frames, sampling, s.size, s.numClasses, c.loadMs,
                ),
            )
        } catch (e: Throwable) {
            show(modelInfo, "Could not load ${pte.name}: ${e.message}")
        }
    }

    private fun classifyVideo(uri: Uri) {
        show(results, "Decoding and classifying…")
        worker.execute {
            val c = classifier ?: return@execute show(results, getString(R.string.no_model))
            try {
                val t0 = System.nanoTime()
                val input = VideoClip.load(this, uri, c.sidecar)
                val prepMs = (System.nanoTime() - t0) / 1e6
                report(c, c.classify(input), prepMs, "video")
            } catch (e: Throwable) {
                show(results, "Failed: ${e.message}")
            }
        }
    }

    private fun onCameraButton() {
        if (cameraClip == null) {
            if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) ==
                PackageManager.PERMISSION_GRANTED
            ) startCamera() else cameraPermission.launch(Manifest.permission.CAMERA)
            return
        }
        val clip = cameraClip ?: return
        show(results, "Recording about 3 s…")
        clip.record { n ->
            show(results, "Recorded $n frames, classifying…")
            worker.execute {
                val c = classifier ?: return@execute show(results, getString(R.string.no_model))
                try {
                    val t0 = System.nanoTime()
                    val input = clip.clip(c.sidecar)
                    val prepMs = (System.nanoTime() - t0) / 1e6
                    report(c, c.classify(input), prepMs, "camera clip, $n frames")
                } catch (e: Throwable) {
                    show(results, "Failed: ${e.message}")
                }
            }
        }
    }

    /** Binds Preview + ImageAnalysis; the next tap on "Camera clip" records. */
    private fun startCamera() {
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            val provider = future.get()
            val clip = CameraClip()
            val previewUseCase = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            provider.unbindAll()
            provider.bindToLifecycle(
                this, CameraSelector.DEFAULT_BACK_CAMERA, previewUseCase, clip.analysis(cameraExecutor),
            )
            cameraClip = clip
            preview.visibility = View.VISIBLE
            show(results, "Camera ready: tap “Camera clip” again to record about 3 s.")
        }, ContextCompat.getMainExecutor(this))
    }

    private fun onLiveButton() {
        if (live != null) return stopLive()
        wantLive = true
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) ==
            PackageManager.PERMISSION_GRANTED
        ) startLive() else cameraPermission.launch(Manifest.permission.CAMERA)
    }

    /** Binds Preview + the live analysis; the classifier is read on [worker], its only thread. */
    private fun startLive() {
        worker.execute {
            val c = classifier ?: return@execute show(results, getString(R.string.no_model))
            runOnUiThread {
                val future = ProcessCameraProvider.getInstance(this)
                future.addListener({
                    val provider = future.get()
                    val session = LiveCamera(c, worker) { u -> showLive(u) }
                    val previewUseCase =
                        Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
                    provider.unbindAll()
                    cameraClip = null
                    provider.bindToLifecycle(
                        this, CameraSelector.DEFAULT_BACK_CAMERA, previewUseCase,
                        session.analysis(cameraExecutor),
                    )
                    live = session
                    preview.visibility = View.VISIBLE
                    liveLabel.visibility = View.VISIBLE
                    liveLabel.text = getString(R.string.live_waiting)
                    liveButton.text = getString(R.string.live_stop)
                    val w = session.windows
                    show(
                        results,
                        String.format(
                            Locale.US, "Live: a window of %d frames (x%d, %d camera frames) every %d frames",
                            w.window, w.stride, w.span(), w.hop,
                        ),
                    )
                }, ContextCompat.getMainExecutor(this))
            }
        }
    }

    private fun stopLive() {
        val session = live ?: return
        session.stop()
        live = null
        wantLive = false
        liveButton.text = getString(R.string.live)
        liveLabel.visibility = View.GONE
        ProcessCameraProvider.getInstance(this).addListener(
            { ProcessCameraProvider.getInstance(this).get().unbindAll(); preview.visibility = View.GONE },
            ContextCompat.getMainExecutor(this),
        )
    }

    private fun showLive(u: LiveCamera.Update) = runOnUiThread {
        liveLabel.text = String.format(Locale.US, "%s  %.0f%%", u.label, 100 * u.score)
        results.text = String.format(
            Locale.US,
            "inference %.1f ms per window (%.2f s of video)\nclassified %d, dropped %d (busy)",
            u.latencyMs, u.windowSeconds, u.classified, u.dropped,
        )
    }

    private fun report(c: Classifier, r: Classifier.Result, prepMs: Double, source: String) {
        val sb = StringBuilder()
        sb.append("Top-5 ($source)\n")
        for ((j, e) in r.top.withIndex()) {
            sb.append(String.format(Locale.US, "%d. %-28s %6.2f%%\n", j + 1, r.labels[j], 100 * e.prob))
        }
        sb.append(String.format(Locale.US, "\ninference %.1f ms (forward, %s)\n", r.latencyMs, c.pte.name))
        sb.append(String.format(Locale.US, "decode + preprocess %.0f ms", prepMs))
        show(results, sb.toString())
    }

    private fun show(view: TextView, text: String) = runOnUiThread { view.text = text }
}
