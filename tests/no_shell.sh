#!/usr/bin/env bash
# No shell between user input and a command: the library and the tool never
# call popen, system, wordexp or a shell binary (host/cli/plot.c runs
# gnuplot through fork and execvp with an argument vector instead).
set -euo pipefail
host=$1
if grep -rnE '\b(popen|system|wordexp)[[:space:]]*\(|/bin/(ba|da|z)?sh\b|"(ba|da|z)?sh"' \
     --include='*.c' --include='*.h' "$host"; then
  echo "no_shell: the lines above call a shell or popen/system in $host" >&2
  exit 1
fi
echo "no_shell: no popen, system, wordexp or shell in $host"
