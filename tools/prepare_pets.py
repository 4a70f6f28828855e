#!/usr/bin/env python3
"""Arrange the Oxford-IIIT Pet dataset into the ImageFolder layout the trainer reads:
OUT/{train,val,test}/<Breed>/*.jpg (symlinks, nothing copied).

Download and extract the official archives first (https://www.robots.ox.ac.uk/~vgg/data/pets/):
  images.tar.gz       → PETS/images/*.jpg
  annotations.tar.gz  → PETS/annotations/{trainval,test}.txt
The official trainval list (~100 images per breed) is split per breed into train and val halves with a
seeded shuffle (the recipe's ~50 train / 50 val); the official test list (~100 per breed) is the test set.
Usage: prepare_pets.py PETS OUT [--seed 0]"""
import argparse
import os
import random
from collections import defaultdict


def read_list(path):
    items = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name = line.split()[0]
                items.append((name, name.rsplit("_", 1)[0]))  # Breed_Name_123 → Breed_Name
    return items


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pets")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    images = os.path.abspath(os.path.join(a.pets, "images"))
    ann = os.path.join(a.pets, "annotations")
    for f in ("trainval.txt", "test.txt"):
        if not os.path.exists(os.path.join(ann, f)):
            raise SystemExit(f"{os.path.join(ann, f)} not found: extract annotations.tar.gz into {a.pets}")
    by_breed = defaultdict(list)
    for name, breed in read_list(os.path.join(ann, "trainval.txt")):
        by_breed[breed].append(name)
    rng = random.Random(a.seed)
    splits = defaultdict(list)
    for breed, names in sorted(by_breed.items()):
        names.sort()
        rng.shuffle(names)
        half = len(names) // 2
        splits["train"] += [(n, breed) for n in names[:half]]
        splits["val"] += [(n, breed) for n in names[half:]]
    splits["test"] = read_list(os.path.join(ann, "test.txt"))
    missing = 0
    for split, items in splits.items():
        for name, breed in items:
            src = os.path.join(images, name + ".jpg")
            if not os.path.exists(src):
                missing += 1
                continue
            d = os.path.join(a.out, split, breed)
            os.makedirs(d, exist_ok=True)
            dst = os.path.join(d, name + ".jpg")
            if not os.path.lexists(dst):
                os.symlink(src, dst)
        print(f"{split}: {len(items)} images in {len({b for _, b in items})} classes")
    if missing:
        print(f"warning: {missing} listed images were not found in {images}")


if __name__ == "__main__":
    main()
