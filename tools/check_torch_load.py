#!/usr/bin/env python3
"""Load a safetensors state_dict written by our trainer into torchvision's model with strict=True,
and print the logits of a fixed input (so the TypeScript side can compare). Usage:
  check_torch_load.py FILE.safetensors ARCH CLASSES DROPOUT"""
import os
import sys

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_safetensors  # noqa: E402

path, arch, classes, dropout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
model = getattr(torchvision.models, arch)()
model.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(model.fc.in_features, classes))
result = model.load_state_dict(load_safetensors(path), strict=True)
print(f"loaded {path} into torchvision {arch} (strict): {result}")
