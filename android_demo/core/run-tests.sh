#!/usr/bin/env bash
# Compiles the core and its JUnit 4 tests with the JDK and Debian's junit4 package
# (installed with apt when missing), writes the golden cases with the Python side
# (../../.venv, made by `python3 run.py test`), and runs every test. Non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")"
JUNIT=/usr/share/java/junit4.jar
HAMCREST=/usr/share/java/hamcrest-core.jar
if [ ! -f "$JUNIT" ]; then
    echo "run-tests.sh: installing Debian's junit4" >&2
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get install -y -q junit4 >/dev/null || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q junit4 >/dev/null; }
fi
BUILD=build/run-tests
rm -rf "$BUILD"
mkdir -p "$BUILD/main" "$BUILD/test"
javac --release 11 -d "$BUILD/main" $(find src/main/java -name '*.java')
javac --release 11 -cp "$BUILD/main:$JUNIT" -d "$BUILD/test" $(find src/test/java -name '*.java')

PYTHON=${PYTHON:-$(cd ../.. && pwd)/.venv/bin/python}
GOLDEN=${GOLDEN_DIR:-$BUILD/golden}
if [ -z "${GOLDEN_DIR:-}" ]; then
    echo "run-tests.sh: writing golden cases with $PYTHON" >&2
    (cd ../.. && KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 "$PYTHON" -m tests.android_golden \
        "android_demo/core/$GOLDEN" >/dev/null 2>"android_demo/core/$BUILD/golden.log") \
        || { tail -20 "$BUILD/golden.log" >&2; exit 1; }
fi
TESTS=$(cd src/test/java && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g')
java -Dgolden.dir="$GOLDEN" -cp "$BUILD/main:$BUILD/test:$JUNIT:$HAMCREST" \
    org.junit.runner.JUnitCore $TESTS
