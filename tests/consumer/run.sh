#!/usr/bin/env bash
# Installs the build in BUILD_DIR into a temporary prefix, then configures, builds and runs the
# consumer project against it with find_package(trellis) and with pkg-config.
set -euo pipefail
build_dir=$1 src_dir=$2 cxx=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$src_dir" -B "$work/build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
# The same program built with nothing but pkg-config's flags (static library: --static).
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
"$cxx" -o "$work/consumer-pc" "$src_dir/main.cpp" $(pkg-config --static --cflags --libs trellis)
"$work/consumer-pc"
echo "pkg-config: trellis $(pkg-config --modversion trellis)"
