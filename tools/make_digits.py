#!/usr/bin/env python3
"""Writes scikit-learn's handwritten digits (1797 real 8x8 scans, UCI) as an ImageFolder of PNGs.

usage: tools/make_digits.py OUT [--size 32]

OUT/{train,val,test}/<digit>/<index>.png, RGB, upscaled from 8x8 to SIZE x SIZE (bilinear). The split is fixed:
within each class, by index, 60% train, 20% val, 20% test. The data ships inside scikit-learn
(Debian: python3-sklearn), so no download is needed.
"""
import argparse
import os
import sys

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--size', type=int, default=32)
    args = ap.parse_args()
    try:
        from sklearn.datasets import load_digits
        from PIL import Image
    except ImportError as e:
        print(f'make_digits.py: {e}: install python3-sklearn and python3-pil', file=sys.stderr)
        return 2
    d = load_digits()
    images = (d.images / 16.0 * 255.0).clip(0, 255).astype(np.uint8)
    for c in range(10):
        idx = np.nonzero(d.target == c)[0]
        n = len(idx)
        cut = [int(round(n * 0.6)), int(round(n * 0.8))]
        for k, i in enumerate(idx):
            split = 'train' if k < cut[0] else 'val' if k < cut[1] else 'test'
            folder = os.path.join(args.out, split, str(c))
            os.makedirs(folder, exist_ok=True)
            img = Image.fromarray(images[i], mode='L').resize((args.size, args.size), Image.BILINEAR).convert('RGB')
            img.save(os.path.join(folder, f'{i:04d}.png'))
    print(f'wrote {len(images)} digits to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
