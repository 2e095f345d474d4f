plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "com.kerasmixer.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "com.kerasmixer.demo"
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
    }
    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }
    kotlinOptions {
        jvmTarget = "11"
    }
    buildFeatures {
        compose = true
    }
    androidResources {
        noCompress += "tflite" // the interpreter memory-maps the model from the APK
    }
    packaging {
        jniLibs {
            // Uncompressed, 16 KB-aligned native libraries (LiteRT's are built for 16 KB pages).
            useLegacyPackaging = false
        }
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.material3)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)
    implementation(libs.litert)
    implementation(libs.litert.gpu)
}

// ./gradlew :app:copyModel -Pmodel=../runs/digits/model_int8.tflite
// puts a `convert` output into the app's assets as model.tflite (models are never committed).
tasks.register<Copy>("copyModel") {
    val model = providers.gradleProperty("model")
        .orElse("../../runs/digits/model_int8.tflite")
    from(model) { rename { "model.tflite" } }
    into(layout.projectDirectory.dir("src/main/assets"))
    doFirst {
        require(file(model.get()).exists()) {
            "No model at ${model.get()}: run `python3 run.py demo` or pass -Pmodel=PATH"
        }
    }
}
