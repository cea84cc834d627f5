// The platform-independent core: plain Java, no Android imports, no dependencies.
// CI does not need Gradle for it: core/run_tests.sh compiles and tests it with javac + JUnit 4.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    // the shared vectors the Python reference writes (tests/app_vectors/generate.py)
    systemProperty("mobilevid.vectors", rootDir.resolve("../tests/app_vectors").absolutePath)
}
