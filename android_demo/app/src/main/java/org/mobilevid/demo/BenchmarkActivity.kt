package org.mobilevid.demo

import android.app.Activity
import android.app.ActivityManager
import android.content.Context
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.widget.TextView
import java.io.File
import java.util.Random
import org.mobilevid.core.BenchResult
import org.mobilevid.core.Sidecar
import org.pytorch.executorch.EValue
import org.pytorch.executorch.ExecutorchRuntimeException
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor

/**
 * Benchmark mode, modelled on ExecuTorch's Minibench, started by `mobilevid bench` over adb:
 *
 *     am start -W -S -n org.mobilevid.demo/.BenchmarkActivity --es model /data/local/tmp/mobilevid/X.pte \
 *         --ei warmup W --ei runs R --ei threads N
 *
 * Loads the model (timed: Module.load + loadMethod("forward"), as Minibench), runs W untimed and
 * R timed forward calls on one input of the sidecar's shape (with no sidecar next to the .pte:
 * forward() with no arguments, which ExecuTorch runs on the method's sample inputs, as Minibench
 * does), and writes `getExternalFilesDir(null)/benchmark_results.json`
 * (= /sdcard/Android/data/org.mobilevid.demo/files/benchmark_results.json) atomically, in the
 * `mobilevid-device-bench/1` format with Minibench BenchmarkMetric records. Errors are written
 * into the same file ("error"), so the host never waits for nothing.
 */
class BenchmarkActivity : Activity() {
    private lateinit var status: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        status = TextView(this).apply { text = getString(R.string.benchmark_running); setPadding(32, 32, 32, 32) }
        setContentView(status)

        val model = intent.getStringExtra("model")
        val warmup = intent.getIntExtra("warmup", 3)
        val runs = intent.getIntExtra("runs", 10)
        val threads = intent.getIntExtra("threads", 0)
        val out = File(getExternalFilesDir(null) ?: filesDir, BenchResult.FILE_NAME)
        out.delete()

        Thread({
            val result = benchmark(model, warmup, runs, threads)
            try {
                result.writeAtomically(out)
                Log.i(TAG, "wrote $out")
            } catch (e: Exception) {
                Log.e(TAG, "cannot write $out", e)
            }
            runOnUiThread {
                status.text = result.error?.let { "Benchmark failed: $it" }
                    ?: "Benchmark done: ${result.runs} runs, results in $out"
                finish()
            }
        }, "mobilevid-bench").start()
    }

    private fun benchmark(model: String?, warmup: Int, runs: Int, threads: Int): BenchResult {
        val path = model ?: ""
        val info = deviceInfo()
        fun fail(msg: String, loadMs: Double? = null, code: Int = 0) =
            BenchResult.failure(path, threads, warmup, runs, loadMs, msg, code, info)

        if (model.isNullOrEmpty()) return fail("no model: pass --es model /data/local/tmp/mobilevid/X.pte")
        if (runs < 1 || warmup < 0 || threads < 0) return fail("need runs >= 1, warmup >= 0, threads >= 0")
        val pte = File(model)
        if (!pte.canRead()) return fail("cannot read $model (missing, or not readable by the app)")

        // Input: the sidecar's shape if the sidecar was pushed too.
        val sidecarFile = File(Sidecar.pathFor(model))
        val inputs: Array<EValue> = try {
            if (sidecarFile.canRead()) {
                val s = Sidecar.parse(sidecarFile.readText())
                s.checkArtifact(pte)
                val data = FloatArray(s.inputLength())
                val rnd = Random(0)
                for (i in data.indices) data[i] = rnd.nextGaussian().toFloat()
                arrayOf(EValue.from(Tensor.fromBlob(data, s.inputShape)))
            } else {
                emptyArray() // Minibench: forward() runs on the method's sample inputs
            }
        } catch (e: Exception) {
            return fail("bad sidecar ${sidecarFile.name}: ${e.message}")
        }

        val loadStart = System.nanoTime()
        fun sinceLoad() = (System.nanoTime() - loadStart) / 1e6
        val module = try {
            Module.load(pte.absolutePath, Module.LOAD_MODE_FILE, threads)
        } catch (e: ExecutorchRuntimeException) {
            return fail("load failed: ${e.message}", sinceLoad(), e.errorCode)
        } catch (e: Throwable) {
            return fail("load failed: ${e.message ?: e.javaClass.simpleName}", sinceLoad(), 1)
        }
        try {
            module.loadMethod("forward")
        } catch (e: Throwable) {
            module.destroy()
            val code = (e as? ExecutorchRuntimeException)?.errorCode ?: 1
            return fail("loading method forward failed: ${e.message ?: e.javaClass.simpleName}", sinceLoad(), code)
        }
        val loadMs = (System.nanoTime() - loadStart) / 1e6

        return try {
            repeat(warmup) { module.forward(*inputs) }
            val times = DoubleArray(runs)
            for (i in 0 until runs) {
                val t0 = System.nanoTime()
                module.forward(*inputs)
                times[i] = (System.nanoTime() - t0) / 1e6
            }
            BenchResult.success(path, threads, warmup, runs, loadMs, times, info)
        } catch (e: Throwable) {
            fail("forward failed: ${e.message ?: e.javaClass.simpleName}", loadMs)
        } finally {
            module.destroy()
        }
    }

    private fun deviceInfo(): BenchResult.DeviceInfo {
        val mem = ActivityManager.MemoryInfo()
        (getSystemService(Context.ACTIVITY_SERVICE) as ActivityManager).getMemoryInfo(mem)
        return BenchResult.DeviceInfo(
            Build.BRAND, Build.MODEL, "Android ${Build.VERSION.RELEASE}", mem.totalMem, mem.availMem,
        )
    }

    private companion object {
        const val TAG = "mobilevid-bench"
    }
}
