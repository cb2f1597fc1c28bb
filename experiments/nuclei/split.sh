#!/usr/bin/env bash
# Makes the project's DSB 2018 fluorescence split as folders of links. The fluorescence images
# of manifest.csv (category column), sorted by id: every 5th (index 0, 5, 10, ...) is the held-out
# test set, never used for training or tuning; the rest train.
# usage: experiments/nuclei/split.sh DATA_DIR WORK_DIR
set -euo pipefail
data=$(cd "$1" && pwd)
work=$2
for part in train test; do mkdir -p "$work/$part/images" "$work/$part/labels"; done
i=0
while IFS=, read -r id category _; do
  part=train; [ $((i % 5)) -eq 0 ] && part=test
  ln -sf "$data/images/$id.png" "$work/$part/images/$id.png"
  ln -sf "$data/labels/$id.png" "$work/$part/labels/$id.png"
  i=$((i + 1))
done < <(tail -n +2 "$data/manifest.csv" | awk -F, '$2 == "fluorescence"' | sort -t, -k1,1)
echo "split: $(ls "$work/train/images" | wc -l) train, $(ls "$work/test/images" | wc -l) test"
