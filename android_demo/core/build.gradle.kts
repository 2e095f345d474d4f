// Plain Java (no Android imports): the app's logic, unit-tested on any JVM
// (here: run-tests.sh with the JDK and Debian's junit4, no Gradle needed).
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_11
    targetCompatibility = JavaVersion.VERSION_11
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    // GoldenTest reads the cases run-tests.sh writes with the Python side.
    systemProperty("golden.dir", layout.buildDirectory.dir("run-tests/golden").get().asFile.path)
}
