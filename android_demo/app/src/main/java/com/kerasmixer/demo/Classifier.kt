package com.kerasmixer.demo

import android.content.Context
import android.graphics.Bitmap
import android.os.SystemClock
import com.kerasmixer.core.Category
import com.kerasmixer.core.ImagePreprocessor
import com.kerasmixer.core.Labels
import com.kerasmixer.core.ModelMetadata
import com.kerasmixer.core.Scores
import com.kerasmixer.core.TensorSpec
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

enum class Accelerator { CPU, GPU }

data class Classification(
    val top: List<Category>,
    val preprocessMs: Double,
    val inferenceMs: Double,
)

/**
 * A `convert` model from assets on LiteRT. Everything model-specific is read at run time:
 * input size, dtype and quantisation from the interpreter, labels and whether the output
 * holds logits from the model's metadata; so any model `convert` emits works unchanged.
 */
class Classifier(
    context: Context,
    val threads: Int,
    val accelerator: Accelerator,
    asset: String = "model.tflite",
) : Closeable {
    private val modelBytes = context.assets.open(asset).use { it.readBytes() }
    private val gpu = if (accelerator == Accelerator.GPU && CompatibilityList().isDelegateSupportedOnThisDevice) {
        GpuDelegate()
    } else null
    private val interpreter = Interpreter(
        ByteBuffer.allocateDirect(modelBytes.size).order(ByteOrder.nativeOrder()).put(modelBytes)
            .also { it.rewind() },
        Interpreter.Options().apply {
            numThreads = threads
            gpu?.let { addDelegate(it) }
        },
    )
    val input: TensorSpec = spec(interpreter.getInputTensor(0), image = true)
    val output: TensorSpec = spec(interpreter.getOutputTensor(0), image = false)
    val metadata: ModelMetadata = ModelMetadata.read(modelBytes)
    val labels: List<String> = Labels.fromModel(modelBytes, output.width)
    val acceleratorInUse = if (gpu != null) Accelerator.GPU else Accelerator.CPU

    private val inputBuffer = ByteBuffer.allocateDirect(
        input.height * input.width * 3 * input.elementBytes()).order(ByteOrder.nativeOrder())
    private val outputBuffer = ByteBuffer.allocateDirect(output.width * output.elementBytes())
        .order(ByteOrder.nativeOrder())

    fun classify(bitmap: Bitmap, k: Int = 3): Classification {
        val start = SystemClock.elapsedRealtimeNanos()
        val pixels = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        inputBuffer.rewind()
        inputBuffer.put(ImagePreprocessor.toInput(pixels, bitmap.width, bitmap.height, input,
            metadata.evalCrop))
        inputBuffer.rewind()
        val prepared = SystemClock.elapsedRealtimeNanos()
        outputBuffer.rewind()
        interpreter.run(inputBuffer, outputBuffer)
        val done = SystemClock.elapsedRealtimeNanos()
        val raw = ByteArray(outputBuffer.capacity())
        outputBuffer.rewind()
        outputBuffer.get(raw)
        var scores = Scores.dequantize(raw, output)
        if (metadata.outputIsLogits()) scores = Scores.softmax(scores)
        return Classification(Scores.topK(scores, labels, k),
            (prepared - start) / 1e6, (done - prepared) / 1e6)
    }

    /** One timed inference on the already-prepared input (the benchmark screen). */
    fun timeInference(): Double {
        inputBuffer.rewind()
        outputBuffer.rewind()
        val start = SystemClock.elapsedRealtimeNanos()
        interpreter.run(inputBuffer, outputBuffer)
        return (SystemClock.elapsedRealtimeNanos() - start) / 1e6
    }

    override fun close() {
        interpreter.close()
        gpu?.close()
    }

    private fun spec(tensor: Tensor, image: Boolean): TensorSpec {
        val type = when (tensor.dataType()) {
            DataType.UINT8 -> "uint8"
            DataType.INT8 -> "int8"
            DataType.FLOAT32 -> "float32"
            else -> tensor.dataType().toString() // refused by TensorSpec, by name
        }
        val shape = tensor.shape()
        val q = tensor.quantizationParams()
        return if (image) TensorSpec.image(type, shape[1], shape[2], q.scale, q.zeroPoint)
        else TensorSpec.scores(type, shape.last(), q.scale, q.zeroPoint)
    }
}
