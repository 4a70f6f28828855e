"""The seeded torchvision model both PyTorch fixtures start from (make_resnet_fixture.py, make_train_fixture.py).

The recipe's model — torchvision's ResNet with fc = Sequential(Dropout(p), Linear(features, classes)) — with
random BatchNorm affine parameters and running statistics, so that tests see them used. With torchvision's
plain init, train-mode BatchNorm on the fixtures' small batches is ill-conditioned: PyTorch's own float32 and
float64 runs differ by ~5e-3 in the early layers' gradients, and by 40–60% after ten SGD steps. So the last
BatchNorm of every residual branch gets its weights scaled by `residual_bn_scale` (0.1 by default: the idea of
torchvision's zero_init_residual) and conv1 a fan-in Kaiming init; scale 1 with fan_out restores the plain model.
"""
import torch.nn as nn
import torchvision


def add_fixture_args(ap) -> None:
    ap.add_argument("--residual-bn-scale", type=float, default=0.1)
    ap.add_argument("--conv1-init", choices=["fan_in", "fan_out"], default="fan_in")


def build_model(arch: str, classes: int, dropout: float, residual_bn_scale: float, conv1_init: str) -> nn.Module:
    """Call after torch.manual_seed(seed): the result depends only on the seed and the arguments."""
    import torch

    model = getattr(torchvision.models, arch)()
    model.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(model.fc.in_features, classes))
    last_bn = "bn3" if arch == "resnet50" else "bn2"
    with torch.no_grad():
        nn.init.kaiming_normal_(model.conv1.weight, mode=conv1_init, nonlinearity="relu")
        for name, m in model.named_modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                if name.endswith("." + last_bn):
                    m.weight.mul_(residual_bn_scale)
    return model
