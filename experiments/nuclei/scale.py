#!/usr/bin/python3
"""Large nuclei at half size: copies the test images whose median nucleus is wider than 30 px
(equal-area diameter) into OUT/full, and the same images and labels shrunk 2x (images bicubic,
labels nearest) into OUT/half, so that `unet predict --evaluate` can score a model on both (the
scores of OUT/half are against the shrunk labels).
Also prints, per image, the median nucleus diameter and the image size.
usage: experiments/nuclei/scale.py TEST_DIR OUT_DIR   (TEST_DIR holds images/ and labels/, split.sh)"""
import os, sys
import numpy as np
from PIL import Image

test, out = sys.argv[1], sys.argv[2]
for s in ('full', 'half'):
    for k in ('images', 'labels'):
        os.makedirs(os.path.join(out, s, k), exist_ok=True)
n = 0
for f in sorted(os.listdir(os.path.join(test, 'labels'))):
    lab_img = Image.open(os.path.join(test, 'labels', f))
    lab = np.array(lab_img)
    _, areas = np.unique(lab[lab > 0], return_counts=True)
    d = 2 * np.sqrt(np.median(areas) / np.pi) if len(areas) else 0
    if d <= 30:
        continue
    n += 1
    im = Image.open(os.path.join(test, 'images', f))
    print(f'{f[:8]} {im.size[0]}x{im.size[1]} median diameter {d:.0f} px')
    im.save(os.path.join(out, 'full', 'images', f))
    lab_img.save(os.path.join(out, 'full', 'labels', f))
    w, h = im.size
    im.resize((w // 2, h // 2), Image.BICUBIC).save(os.path.join(out, 'half', 'images', f))
    lab_img.resize((w // 2, h // 2), Image.NEAREST).save(os.path.join(out, 'half', 'labels', f))
print(f'{n} images with median nuclei over 30 px')
