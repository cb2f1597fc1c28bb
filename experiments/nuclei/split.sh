#!/usr/bin/env bash
# Makes the project's DSB 2018 split of one category (fluorescence unless CATEGORY is given:
# histology_color, brightfield_gray) as folders of links. The images of that category in
# manifest.csv, sorted by id: every 5th (index 0, 5, 10, ...) is the held-out test set, never used
# for training or tuning; the rest train.
# usage: experiments/nuclei/split.sh DATA_DIR WORK_DIR [CATEGORY]
set -euo pipefail
data=$(cd "$1" && pwd)
work=$2
category=${3:-fluorescence}
for part in train test; do mkdir -p "$work/$part/images" "$work/$part/labels"; done
i=0
while IFS=, read -r id _category _; do
  part=train; [ $((i % 5)) -eq 0 ] && part=test
  ln -sf "$data/images/$id.png" "$work/$part/images/$id.png"
  ln -sf "$data/labels/$id.png" "$work/$part/labels/$id.png"
  i=$((i + 1))
done < <(tail -n +2 "$data/manifest.csv" | awk -F, -v c="$category" '$2 == c' | sort -t, -k1,1)
echo "split: $(ls "$work/train/images" | wc -l) train, $(ls "$work/test/images" | wc -l) test"
