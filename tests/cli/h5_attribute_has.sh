#!/usr/bin/env bash
# h5_attribute_has.sh FILE ATTRIBUTE TEXT: passes when FILE's root attribute ATTRIBUTE
# (as h5dump shows it) contains TEXT.
set -eu
dump=$(h5dump -a "$2" "$1")
if [[ $dump == *"$3"* ]]; then echo "$1: $2 has '$3'"; else echo "$dump"; echo "$1: $2 lacks '$3'"; exit 1; fi
