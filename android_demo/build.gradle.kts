// Versions, pinned (see README "Pinned versions" for where each was checked):
//   Gradle 8.11.1 (gradle/wrapper/gradle-wrapper.properties), AGP 8.9.0, Kotlin 2.1.10.
plugins {
    id("com.android.application") version "8.9.0" apply false
    id("org.jetbrains.kotlin.android") version "2.1.10" apply false
}
