#!/usr/bin/env bash
# The project's driver. Usage: ./run.sh COMMAND
#   setup   install what is missing (Debian packages, the MLX wheel in .venv)
#   build   build the C++ library and its tests, install the R package
#   test    set up, build, then run every test, C++ (ctest) and R (testthat)
#   main    set up, build, then train the Fashion-MNIST model
#   austen  set up, build, then train the Jane Austen character-level LSTM
#   austen-transformer  the same with a small decoder-only transformer
#   bench   run the benchmarks against MLX Python and PyTorch
#   tarball build a self-contained source tarball of the R package in build/
#   fixtures  regenerate the reference values from MLX Python and PyTorch
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export PYTHON="${PYTHON:-$root/.venv/bin/python}"
build_dir="${RMLX_BUILD_DIR:-$root/build}"
jobs="${RMLX_JOBS:-2}"

setup() {
  bash "$root/tools/setup.sh"
}

# ccache, when installed, makes repeated builds of unchanged files free.
launcher=""
if command -v ccache >/dev/null 2>&1 && [ "${RMLX_CCACHE:-1}" != 0 ]; then
  launcher=ccache
fi

build_cpp() {
  cmake -S cpp -B "$build_dir/cpp" -G "Unix Makefiles" \
    -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$PYTHON" \
    -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" >/dev/null
  cmake --build "$build_dir/cpp" -j "$jobs"
}

# Copies r/ and cpp/ (sources only) into the folder $1, so that R builds
# there: the source tree stays free of objects and builds do not collide.
stage_sources() {
  rm -rf "$1"
  mkdir -p "$1/cpp"
  cp -R r "$1/r"
  cp -R cpp/include cpp/src "$1/cpp/"
  rm -rf "$1/r/src/rmlx-core" "$1/r/inst/mlx"
  find "$1/r/src" -maxdepth 1 \( -name '*.o' -o -name '*.so' \) -delete
}

install_r() {
  stage_sources "$build_dir/rpkg"
  local makevars="$build_dir/rpkg/Makevars.user"
  : >"$makevars"
  if [ -n "$launcher" ]; then
    echo "CXX20 = $launcher $(R CMD config CXX20)" >"$makevars"
  fi
  (cd "$build_dir/rpkg" && R_MAKEVARS_USER="$makevars" MAKEFLAGS="-j$jobs" \
    R CMD INSTALL --no-test-load r)
}

# Builds Rmlx_<version>.tar.gz, with the C++ core copied into src/rmlx-core.
build_tarball() {
  stage_sources "$build_dir/rtarball"
  (cd "$build_dir/rtarball/r" && sh tools/sync-core.sh)
  (cd "$build_dir" && R CMD build rtarball/r)
}

test_cpp() {
  ctest --test-dir "$build_dir/cpp" --output-on-failure
}

test_r() {
  Rscript tools/run-r-tests.R r/tests/testthat
}

case "${1:-}" in
  setup) setup ;;
  build) setup; build_cpp; install_r ;;
  test) setup; build_cpp; install_r; test_cpp; test_r ;;
  test-cpp) build_cpp; test_cpp ;;
  test-r) install_r; test_r ;;
  main) setup; install_r; shift; Rscript examples/fashion_mnist.R "$@" ;;
  austen) setup; install_r; shift; Rscript examples/austen_lstm.R "$@" ;;
  austen-transformer)
    setup; install_r; shift; Rscript examples/austen_transformer.R "$@" ;;
  bench) shift; bash bench/run.sh "$@" ;;
  tarball) build_tarball ;;
  fixtures)
    for script in tools/fixtures/make_*.py; do "$PYTHON" "$script"; done ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
