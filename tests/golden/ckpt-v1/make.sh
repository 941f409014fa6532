#!/bin/sh
# Version-1 checkpoints for the compatibility test (tests/test_train.c,
# train.v1_checkpoints_load_and_resume_bit_identically). They were written by
# the last version-1 writer, commit 37df439 ("One error convention: ..."),
# on the reference backend, which gives the same bits on every machine:
#
#   git worktree add /tmp/v1 37df439 && cmake -S /tmp/v1 -B /tmp/v1/b &&
#   cmake --build /tmp/v1/b --target cltrain_cli &&
#   sh tests/golden/ckpt-v1/make.sh /tmp/v1/b/cltrain
#
# A later cltrain writes version 2 and cannot remake them.
set -eu
cltrain=${1:?usage: make.sh PATH/TO/cltrain-at-37df439}
cd "$(dirname "$0")"
common="--data synthetic:300,7,3 --batch 32 --optim adam --lr 0.01 --schedule constant --seed 5 --device ref --quiet"
# shellcheck disable=SC2086
"$cltrain" train $common --epochs 1 --checkpoint epoch1.ckpt
# shellcheck disable=SC2086
"$cltrain" train $common --epochs 2 --checkpoint epoch2.ckpt
"$cltrain" train --data synthetic:300,7,3 --batch 32 --optim sgd --lr 0.1 --seed 5 \
  --device ref --quiet --no-bias --preprocess none --epochs 1 --checkpoint nobias.ckpt
