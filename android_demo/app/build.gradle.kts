plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.mobilevid.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.mobilevid.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // The ExecuTorch AAR ships arm64-v8a (phones) and x86_64 (emulator) native libraries.
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
    }

    buildFeatures {
        viewBinding = false
    }
}

val camerax = "1.4.1"

dependencies {
    implementation(project(":core"))

    // ExecuTorch runtime: the Maven Central AAR whose default flavour bundles the XNNPACK
    // backend (arm64-v8a, x86_64). Same version as the Python package that exported the .pte
    // (executorch 1.5.1): a .pte must be run by the runtime version that wrote it.
    // Its POM brings com.facebook.fbjni:fbjni and com.facebook.soloader:nativeloader.
    implementation("org.pytorch:executorch-android:1.5.1")

    implementation("androidx.core:core-ktx:1.13.1")
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.activity:activity-ktx:1.9.3")

    implementation("androidx.camera:camera-core:$camerax")
    implementation("androidx.camera:camera-camera2:$camerax")
    implementation("androidx.camera:camera-lifecycle:$camerax")
    implementation("androidx.camera:camera-view:$camerax")
}
