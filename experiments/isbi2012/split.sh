#!/usr/bin/env bash
# Makes the project's ISBI 2012 split as folders of links: slices 00-24 train, 25-29 validation.
# usage: experiments/isbi2012/split.sh DATA_DIR WORK_DIR
set -euo pipefail
data=$(cd "$1" && pwd)
work=$2
for part in train val; do mkdir -p "$work/$part/images" "$work/$part/labels"; done
for i in $(seq -w 0 29); do
  part=train; [ "$i" -ge 25 ] && part=val
  ln -sf "$data/images/train_$i.png" "$work/$part/images/train_$i.png"
  ln -sf "$data/labels/train_$i.png" "$work/$part/labels/train_$i.png"
done
