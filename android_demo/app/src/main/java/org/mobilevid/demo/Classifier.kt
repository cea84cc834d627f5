package org.mobilevid.demo

import java.io.Closeable
import java.io.File
import org.mobilevid.core.Sidecar
import org.mobilevid.core.TopK
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor

/**
 * One exported model: the .pte through ExecuTorch's Module API (Module.load, Tensor.fromBlob,
 * EValue.from, forward) and its sidecar `<model>.pte.json`, which says how to sample and
 * preprocess frames and names the classes. Not thread-safe: use it from one background thread.
 */
class Classifier private constructor(
    val pte: File,
    val sidecar: Sidecar,
    private val module: Module,
    val loadMs: Double,
) : Closeable {

    /** [probs]: every class's probability (softmax), for smoothing over live windows. */
    data class Result(
        val top: List<TopK.Entry>,
        val labels: List<String>,
        val latencyMs: Double,
        val probs: DoubleArray,
    )

    /** [input]: (3, T, S, S) floats from [org.mobilevid.core.Preprocess]; returns top-5. */
    fun classify(input: FloatArray, k: Int = 5): Result {
        require(input.size == sidecar.inputLength()) {
            "input has ${input.size} floats, the model wants ${sidecar.inputLength()}"
        }
        val tensor = Tensor.fromBlob(input, sidecar.inputShape)
        val start = System.nanoTime()
        val outputs = module.forward(EValue.from(tensor))
        val latencyMs = (System.nanoTime() - start) / 1e6
        val logits = outputs[0].toTensor().dataAsFloatArray
        val top = TopK.topK(logits, k).toList()
        val probs = TopK.softmax(DoubleArray(logits.size) { logits[it].toDouble() })
        return Result(top, top.map { sidecar.label(it.index) }, latencyMs, probs)
    }

    override fun close() = module.destroy()

    companion object {
        /** Loads [pte] and its sidecar; [threads] 0 = ExecuTorch's default (performance cores). */
        fun load(pte: File, threads: Int = 0): Classifier {
            val side = File(Sidecar.pathFor(pte.path))
            if (!side.isFile) {
                throw IllegalArgumentException(
                    "${side.name} is missing: copy the sidecar that `mobilevid export` wrote next to ${pte.name}"
                )
            }
            val sidecar = Sidecar.parse(side.readText())
            sidecar.checkArtifact(pte) // another model's sidecar, or a changed .pte: refused
            val start = System.nanoTime()
            val module = Module.load(pte.absolutePath, Module.LOAD_MODE_MMAP, threads)
            try {
                module.loadMethod("forward")
            } catch (e: Exception) {
                module.destroy()
                throw e
            }
            return Classifier(pte, sidecar, module, (System.nanoTime() - start) / 1e6)
        }
    }
}
