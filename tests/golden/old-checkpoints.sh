#!/bin/sh
# Checkpoints of older format versions for the compatibility test
# (tests/test_cli.c, cli.old_checkpoints_load_and_resume_bit_identically),
# written into ckpt-vN/ by the last writer of version N on the reference
# backend, which gives the same bits on every machine:
#
#   version 1: commit 37df439 ("One error convention: ...")
#   version 2: commit 3057d40 ("--val tells a number from a path ...")
#   version 3: commit 163b94c ("The trainer's epoch comment says which ...")
#
#   git worktree add /tmp/old COMMIT && cmake -S /tmp/old -B /tmp/old/b &&
#   cmake --build /tmp/old/b --target cltrain_cli &&
#   sh tests/golden/old-checkpoints.sh N /tmp/old/b/cltrain
#
# A later cltrain writes a later version and cannot remake them.
set -eu
version=${1:?usage: old-checkpoints.sh VERSION PATH/TO/cltrain-at-its-commit}
cltrain=${2:?usage: old-checkpoints.sh VERSION PATH/TO/cltrain-at-its-commit}
cd "$(dirname "$0")/ckpt-v$version"
common="--data synthetic:300,7,3 --batch 32 --optim adam --lr 0.01 --schedule constant --seed 5 --device ref --quiet"
# shellcheck disable=SC2086
"$cltrain" train $common --epochs 1 --checkpoint epoch1.ckpt
# shellcheck disable=SC2086
"$cltrain" train $common --epochs 2 --checkpoint epoch2.ckpt
"$cltrain" train --data synthetic:300,7,3 --batch 32 --optim sgd --lr 0.1 --seed 5 \
  --device ref --quiet --no-bias --preprocess none --epochs 1 --checkpoint nobias.ckpt
