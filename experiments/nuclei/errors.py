#!/usr/bin/python3
"""Where instance errors come from: each true object that is not matched at IoU 0.5 is counted as
missed (no predicted object covers half of it), merged (the predicted object covering half of it
also covers half of another true object) or mis-outlined (the rest); each unmatched predicted
object as spurious (under half of it on objects), a fragment (half of it on one true object that
it does not match) or other.
usage: experiments/nuclei/errors.py PRED_DIR TRUTH_DIR   (PRED_DIR holds <stem>_instances.png)"""
import os, sys
import numpy as np
from skimage.io import imread

pred_dir, truth_dir = sys.argv[1], sys.argv[2]
tot = dict(truth=0, tp=0, missed=0, merged=0, outlined=0, pred=0, spurious=0, fragment=0, other=0)
small_missed = 0
for f in sorted(os.listdir(truth_dir)):
    stem = f.rsplit('.', 1)[0]
    t = imread(os.path.join(truth_dir, f)).astype(np.int64)
    if t.ndim == 3: t = t[..., 0]
    p = imread(os.path.join(pred_dir, stem + '_instances.png')).astype(np.int64)
    nt, np_ = t.max() + 1, p.max() + 1
    inter = np.bincount((t * np_ + p).ravel(), minlength=nt * np_).reshape(nt, np_)
    at, ap = inter.sum(1), inter.sum(0)
    iou = inter / (at[:, None] + ap[None, :] - inter + 1e-9)
    iou[0, :] = 0; iou[:, 0] = 0
    tp_t = (iou >= 0.5).any(1); tp_p = (iou >= 0.5).any(0)
    for i in range(1, nt):
        if at[i] == 0: continue
        tot['truth'] += 1
        if tp_t[i]: tot['tp'] += 1; continue
        cover = inter[i, 1:] / at[i]
        j = int(np.argmax(cover)) + 1
        if cover.max() < 0.5:
            tot['missed'] += 1; small_missed += at[i] < 50
        elif ((inter[1:, j] / np.maximum(at[1:], 1)) >= 0.5).sum() >= 2: tot['merged'] += 1
        else: tot['outlined'] += 1
    for j in range(1, np_):
        if ap[j] == 0: continue
        tot['pred'] += 1
        if tp_p[j]: continue
        on = inter[1:, j].sum() / ap[j]
        if on < 0.5: tot['spurious'] += 1
        elif inter[1:, j].max() / ap[j] >= 0.5: tot['fragment'] += 1
        else: tot['other'] += 1
print(tot, 'missed under 50 px:', small_missed)
