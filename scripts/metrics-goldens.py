#!/usr/bin/env python3
"""Golden values for src/metrics from independent implementations (scikit-image + numpy).

Regenerate the stored fixture (Debian: apt-get install python3-skimage):
    python3 scripts/metrics-goldens.py --seed 2012 --count 40 > test/fixtures/metrics/skimage-goldens.json
test/metrics-skimage.test.ts compares against that file, and also runs this script live
(with another seed) when `python3 -c 'import skimage'` works.

Per random label pair (truth, pred) it records:
  skimage.metrics.adapted_rand_error(truth, pred)            -> are, precision, recall
      (ignore_labels=(0,), pairs of distinct pixels, pred 0 an ordinary label)
  skimage.metrics.variation_of_information(truth, pred, ignore_labels=(0,)) and (...=())
      -> [H(pred|truth), H(truth|pred)] in bits
  isbi_rand / isbi_info: the ISBI 2012 foreground-restricted V_rand / V_info (N^2 pair counting,
      pred-0 pixels in the truth foreground as singletons, natural log), computed here with numpy
      on skimage's contingency_table after giving every such pixel its own new label.
"""
import argparse
import json

import numpy as np
from skimage.metrics import adapted_rand_error, contingency_table, variation_of_information


def isbi_scores(truth, pred):
    fg = truth != 0
    relabelled = pred.astype(np.int64).copy()
    singles = fg & (pred == 0)
    relabelled[singles] = pred.max() + 1 + np.arange(int(singles.sum()))
    table = contingency_table(truth[fg], relabelled[fg]).toarray().astype(np.float64)
    n = table.sum()
    p = table / n
    t = p.sum(axis=1)
    s = p.sum(axis=0)
    sp2, st2, ss2 = (p ** 2).sum(), (t ** 2).sum(), (s ** 2).sum()
    split, merge = sp2 / ss2, sp2 / st2

    def h(x):
        x = x[x > 0]
        return float(-(x * np.log(x)).sum())

    ht, hs, hj = h(t), h(s), h(p.ravel())
    mi = ht + hs - hj
    return (
        {"split": split, "merge": merge, "vRand": 2 * split * merge / (split + merge)},
        {"hTruth": ht, "hPred": hs, "mutualInformation": mi, "vInfo": 2 * mi / (ht + hs) if ht + hs > 0 else 1.0},
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2012)
    ap.add_argument("--count", type=int, default=40)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cases = []
    for _ in range(args.count):
        h, w = int(rng.integers(4, 20)), int(rng.integers(4, 20))
        kt, kp = int(rng.integers(2, 7)), int(rng.integers(2, 7))
        # Blocky labels (not pure noise) so that segments have real overlaps.
        truth = np.kron(rng.integers(0, kt, size=(h // 2 + 1, w // 2 + 1)), np.ones((2, 2), dtype=np.int64))[:h, :w]
        pred = truth.copy()
        flip = rng.random((h, w)) < rng.uniform(0.05, 0.6)
        pred[flip] = rng.integers(0, kp, size=int(flip.sum()))
        if not (truth != 0).any():
            truth[0, 0] = 1
        are, prec, rec = adapted_rand_error(truth, pred)
        vi_fg = variation_of_information(truth, pred, ignore_labels=(0,))
        vi_all = variation_of_information(truth, pred)
        isbi_rand, isbi_info = isbi_scores(truth, pred)
        cases.append({
            "height": h, "width": w,
            "truth": truth.ravel().tolist(), "pred": pred.ravel().tolist(),
            "skimage": {
                "adaptedRandError": float(are), "precision": float(prec), "recall": float(rec),
                "viForeground": [float(v) for v in vi_fg], "viAll": [float(v) for v in vi_all],
            },
            "isbiRand": isbi_rand, "isbiInfo": isbi_info,
        })
    import skimage
    print(json.dumps({"generator": "scripts/metrics-goldens.py", "seed": args.seed, "skimage": skimage.__version__, "cases": cases}))


if __name__ == "__main__":
    main()
