#!/usr/bin/env bash
# Compile the Android demo's platform-independent Java core and its JUnit 4 tests with plain
# javac (release 17) and run them on this JVM. The tests check the core against the Python
# reference's shared vectors in ../../tests/app_vectors. Exit code: 0 iff every test passes.
#
#   android_demo/core/run_tests.sh            (from anywhere)
#   JUNIT_JAR=... HAMCREST_JAR=... run_tests.sh   (other JUnit 4 / hamcrest jars)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vectors="$(cd "$here/../../tests/app_vectors" 2>/dev/null && pwd)" || {
  echo "run_tests.sh: $here/../../tests/app_vectors not found (the shared test vectors)" >&2
  exit 1
}

for tool in javac java; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "run_tests.sh: $tool not found: install a JDK 17+ (Debian: apt-get install -y openjdk-17-jdk-headless)" >&2
    exit 1
  }
done

find_jars() {
  junit="${JUNIT_JAR:-}"
  hamcrest="${HAMCREST_JAR:-}"
  if [ -z "$junit" ]; then
    for j in /usr/share/java/junit4.jar /usr/share/java/junit4-*.jar; do
      [ -f "$j" ] && { junit="$j"; break; }
    done
  fi
  if [ -z "$hamcrest" ]; then
    for j in /usr/share/java/hamcrest-core.jar /usr/share/java/hamcrest.jar /usr/share/java/hamcrest-all.jar; do
      [ -f "$j" ] && { hamcrest="$j"; break; }
    done
  fi
  [ -n "$junit" ] && [ -f "$junit" ] && [ -n "$hamcrest" ] && [ -f "$hamcrest" ]
}

if ! find_jars; then
  # CI installs what it needs itself: Debian's junit4 package (pulls in hamcrest).
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "run_tests.sh: JUnit 4 jars missing, installing Debian's junit4 package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq junit4 >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq junit4 >/dev/null 2>&1; } \
      || true
  fi
  find_jars || {
    echo "run_tests.sh: JUnit 4 + hamcrest jars not found in /usr/share/java (apt-get install -y junit4, or set JUNIT_JAR and HAMCREST_JAR)" >&2
    exit 1
  }
fi

build="$(mktemp -d "${TMPDIR:-/tmp}/mobilevid-core.XXXXXX")"
trap 'rm -rf "$build"' EXIT
mkdir -p "$build/main" "$build/test"
cp="$junit:$hamcrest"

javac --release 17 -Xlint:all -Werror -encoding UTF-8 -d "$build/main" \
  $(find "$here/src/main/java" -name '*.java' | sort)
javac --release 17 -Xlint:all,-serial -encoding UTF-8 -cp "$build/main:$cp" -d "$build/test" \
  $(find "$here/src/test/java" -name '*.java' | sort)

tests=$(cd "$build/test" && find . -name '*Test.class' ! -name '*$*' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
[ -n "$tests" ] || { echo "run_tests.sh: no test classes found" >&2; exit 1; }

echo "Java core tests (vectors: $vectors)"
# shellcheck disable=SC2086
java -Dmobilevid.vectors="$vectors" -cp "$build/main:$build/test:$cp" org.junit.runner.JUnitCore $tests
