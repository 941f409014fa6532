#!/usr/bin/env bash
# Installs the built project into a scratch prefix and builds a consumer
# program against the installed package twice: find_package and pkg-config.
set -euo pipefail
build=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null

echo "== find_package(cltrain)"
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64:${LD_LIBRARY_PATH:-}" "$work/cmake-build/consumer"

echo "== pkg-config cltrain"
pcdir=$(dirname "$(find "$work/prefix" -name cltrain.pc | head -n1)")
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs cltrain)
cc -std=c11 -o "$work/consumer-pc" "$here/main.c" $flags
LD_LIBRARY_PATH="$pcdir/..:${LD_LIBRARY_PATH:-}" "$work/consumer-pc"

echo "== pkg-config --static cltrain"

cc -std=c11 -o "$work/consumer-static" "$here/main.c" -I"$work/prefix/include" "$pcdir/../libcltrain.a" $(PKG_CONFIG_PATH="$pcdir" pkg-config --libs-only-other --libs-only-l --static cltrain | sed "s/-lcltrain//")
"$work/consumer-static"
