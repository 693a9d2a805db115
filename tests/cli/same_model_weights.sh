#!/usr/bin/env bash
# same_model_weights.sh BIN A.pt B.pt: the two segmenter files hold bit-identical weights
# (styleseg inspect's weights_sha256). Prints "same".
set -eu
a=$("$1" inspect --checkpoint "$2" | grep weights_sha256)
b=$("$1" inspect --checkpoint "$3" | grep weights_sha256)
echo "$a / $b"
[ -n "$a" ] && [ "$a" = "$b" ]
echo same
