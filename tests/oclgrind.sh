#!/usr/bin/env bash
# Every kernel on small shapes under Oclgrind, the OpenCL device simulator,
# with its out-of-bounds checks (always on) and data-race checks, for the
# CPU- and the GPU-shaped device profiles (CLT_PROFILE; the CPU one on a
# simulated 4-core device, so that the kernels that split their work per
# core, such as the sparse update's column buckets, run as several
# work-items the race check can compare; the GPU one on a simulated
# 132-compute-unit device, an H200's count). Fails on any
# diagnostic, a failed run, or a kernel of host/cl/cl_kernels.h that
# neither run launched.
#   tests/oclgrind.sh DRIVER WORKDIR        (DRIVER: tests/oclgrind_kernels)
# Oclgrind 21.10's --uninitialized check stays off: it reports vector
# shuffles, buffer fills and partial vector writes that are correct.
# Kernels are built with -DCLT_RESTRICT= (kernels/optim.cl says why).
# Exit 77 (ctest: skipped) when oclgrind is not installed.
set -uo pipefail
driver=$1 work=$2
if ! command -v oclgrind >/dev/null 2>&1; then
  echo "oclgrind: not installed (apt-get install oclgrind): skipped"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
status=0
for profile in cpu gpu; do
  units=4
  [ "$profile" = gpu ] && units=132
  log="$work/$profile.log"
  CLT_DEVICE= CLT_PROFILE=$profile oclgrind --check-api --data-races --compute-units "$units" \
    --build-options "-DCLT_RESTRICT=" --log "$log" "$driver" > "$work/$profile.kernels"
  rc=$?
  if [ $rc -ne 0 ] || [ -s "$log" ]; then
    echo "oclgrind ($profile profile): exit $rc, diagnostics:"
    head -n 60 "$log"
    status=1
  else
    echo "oclgrind ($profile profile): $(wc -l < "$work/$profile.kernels") kernels, no diagnostics"
  fi
done
"$driver" --table | sort > "$work/all"
sort -u "$work/cpu.kernels" "$work/gpu.kernels" > "$work/ran"
missing=$(comm -23 "$work/all" "$work/ran")
if [ -n "$missing" ]; then
  echo "oclgrind: kernels no run launched:" $missing
  status=1
else
  echo "oclgrind: all $(wc -l < "$work/all") kernels ran"
fi
exit $status
