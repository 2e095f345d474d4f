package com.kerasmixer.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.ImageAnalysis
import androidx.camera.view.LifecycleCameraController
import androidx.camera.view.PreviewView
import androidx.compose.foundation.Image
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Tab
import androidx.compose.material3.TabRow
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.platform.LocalLifecycleOwner
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import com.kerasmixer.core.LatencyStats
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import java.util.Locale
import java.util.concurrent.Executors

/** Camera, gallery and benchmark screens over one [Classifier] (threads and delegate chosen). */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent { MaterialTheme { App() } }
    }
}

@Composable
fun App() {
    val context = LocalContext.current
    var threads by remember { mutableStateOf(4) }
    var accelerator by remember { mutableStateOf(Accelerator.CPU) }
    var tab by remember { mutableStateOf(0) }
    val classifier = remember(threads, accelerator) {
        runCatching { Classifier(context, threads, accelerator) }
    }
    DisposableEffect(classifier) { onDispose { classifier.getOrNull()?.close() } }

    Column(Modifier.fillMaxSize().padding(8.dp)) {
        Row {
            listOf(1, 2, 4).forEach { n ->
                FilterChip(selected = threads == n, onClick = { threads = n },
                    label = { Text("$n thr") }, modifier = Modifier.padding(end = 4.dp))
            }
            Accelerator.values().forEach { a ->
                FilterChip(selected = accelerator == a, onClick = { accelerator = a },
                    label = { Text(a.name) }, modifier = Modifier.padding(end = 4.dp))
            }
        }
        TabRow(selectedTabIndex = tab) {
            listOf("Camera", "Photo", "Benchmark").forEachIndexed { i, title ->
                Tab(selected = tab == i, onClick = { tab = i }, text = { Text(title) })
            }
        }
        classifier.fold(
            onSuccess = { c ->
                Text("${c.metadata.name}: ${c.input} -> ${c.output.width} classes, " +
                    "${c.acceleratorInUse}", style = MaterialTheme.typography.bodySmall)
                when (tab) {
                    0 -> CameraScreen(c)
                    1 -> PhotoScreen(c)
                    else -> BenchmarkScreen(c)
                }
            },
            onFailure = { Text("Cannot load assets/model.tflite: ${it.message}") },
        )
    }
}

@Composable
fun Results(result: Classification?, stats: LatencyStats? = null) {
    result ?: return
    result.top.forEach { Text(String.format(Locale.ROOT, "%-20s %.3f", it.label, it.score)) }
    Text(String.format(Locale.ROOT, "pre-processing %.1f ms, inference %.1f ms",
        result.preprocessMs, result.inferenceMs))
    stats?.let {
        Text(String.format(Locale.ROOT, "inference median %.1f ms over the last %d frames",
            it.median(), it.count()))
    }
}

@Composable
fun CameraScreen(classifier: Classifier) {
    val context = LocalContext.current
    val owner = LocalLifecycleOwner.current
    var allowed by remember {
        mutableStateOf(ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) ==
            PackageManager.PERMISSION_GRANTED)
    }
    val ask = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) {
        allowed = it
    }
    if (!allowed) {
        Button(onClick = { ask.launch(Manifest.permission.CAMERA) }) { Text("Allow the camera") }
        return
    }
    var result by remember { mutableStateOf<Classification?>(null) }
    val stats = remember(classifier) { LatencyStats(30) }
    val executor = remember { Executors.newSingleThreadExecutor() }
    val controller = remember {
        LifecycleCameraController(context).apply {
            imageAnalysisBackpressureStrategy = ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST
            imageAnalysisOutputImageFormat = ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888
        }
    }
    DisposableEffect(classifier) {
        controller.setImageAnalysisAnalyzer(executor) { frame ->
            val rotation = frame.imageInfo.rotationDegrees
            val bitmap = frame.toBitmap().let {
                if (rotation == 0) it else Bitmap.createBitmap(it, 0, 0, it.width, it.height,
                    Matrix().apply { postRotate(rotation.toFloat()) }, false)
            }
            frame.close()
            val found = classifier.classify(bitmap)
            stats.add(found.inferenceMs)
            result = found
        }
        controller.bindToLifecycle(owner)
        onDispose { controller.clearImageAnalysisAnalyzer() }
    }
    AndroidView(factory = { PreviewView(it).also { view -> view.controller = controller } },
        modifier = Modifier.fillMaxWidth().height(360.dp))
    Results(result, stats)
}

@Composable
fun PhotoScreen(classifier: Classifier) {
    val context = LocalContext.current
    var bitmap by remember { mutableStateOf<Bitmap?>(null) }
    var result by remember { mutableStateOf<Classification?>(null) }
    var error by remember { mutableStateOf<String?>(null) }
    val pick = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        uri ?: return@rememberLauncherForActivityResult
        val source = ImageDecoder.createSource(context.contentResolver, uri)
        val picked = ImageDecoder.decodeBitmap(source) { decoder, _, _ ->
            decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE // getPixels needs a CPU bitmap
        }
        bitmap = picked
        runCatching { classifier.classify(picked) }
            .onSuccess { result = it; error = null }
            .onFailure { error = it.message }
    }
    Button(onClick = {
        pick.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
    }) { Text("Pick a photo") }
    bitmap?.let {
        Image(it.asImageBitmap(), contentDescription = null,
            modifier = Modifier.fillMaxWidth().height(300.dp))
    }
    error?.let { Text(it) }
    Results(result)
}

/** The on-device counterpart of `convert benchmark`: N timed runs after warm-up. */
@Composable
fun BenchmarkScreen(classifier: Classifier, warmup: Int = 5, runs: Int = 50) {
    var report by remember(classifier) { mutableStateOf("") }
    var running by remember { mutableStateOf(false) }
    LaunchedEffect(running) {
        if (!running) return@LaunchedEffect
        report = withContext(Dispatchers.Default) {
            val size = maxOf(classifier.input.width, classifier.input.height)
            val image = Bitmap.createBitmap(size, size, Bitmap.Config.ARGB_8888).apply {
                for (y in 0 until size) for (x in 0 until size) {
                    setPixel(x, y, (0xff shl 24) or ((x * 255 / size) shl 16) or ((y * 255 / size) shl 8))
                }
            }
            classifier.classify(image) // fills the input tensor with a fixed image
            repeat(warmup) { classifier.timeInference() }
            val stats = LatencyStats(runs)
            repeat(runs) { stats.add(classifier.timeInference()) }
            String.format(Locale.ROOT,
                "%d runs after %d warm-up, %d thread(s), %s: median %.2f ms, p90 %.2f ms",
                runs, warmup, classifier.threads, classifier.acceleratorInUse,
                stats.median(), stats.p90())
        }
        running = false
    }
    Button(onClick = { running = true }, enabled = !running) {
        Text(if (running) "Running..." else "Run benchmark")
    }
    Text(report)
}
