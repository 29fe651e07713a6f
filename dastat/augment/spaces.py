"""The operation spaces of the AutoAugment family, and AutoAugment's learned policies.

Each space maps an operation name to ``(magnitudes, signed)``: ``magnitudes(bins,
height, width)`` gives the magnitude of every bin (``None`` for operations without
one) and ``signed`` says whether a magnitude is negated with probability 1/2. The
values are those of the papers as torchvision documents and implements them
(AutoAugment, Cubuk et al. 2019; RandAugment, Cubuk et al. 2020; TrivialAugment,
Müller & Hutter 2021; AugMix, Hendrycks et al. 2020), in torchvision's order, so the
same draws pick the same operations.

>>> float(RANDAUGMENT["Rotate"][0](31, 28, 28)[9])
9.0
"""

from __future__ import annotations

import torch


def _linear(start: float, end: float):
    return lambda bins, height, width: torch.linspace(start, end, bins)


def _posterize(top: int, steps: int):
    return lambda bins, height, width: (top - (torch.arange(bins) / ((bins - 1) / steps))).round().int()


def _none(bins, height, width):
    return None


_SOLARIZE_AND_AFTER = {
    "Solarize": (_linear(1.0, 0.0), False), "AutoContrast": (_none, False), "Equalize": (_none, False),
}
_COLOUR = {name: (_linear(0.0, 0.9), True) for name in ("Brightness", "Color", "Contrast", "Sharpness")}

#: AutoAugment's operations (their magnitudes in 10 bins).
AUTOAUGMENT = {
    "ShearX": (_linear(0.0, 0.3), True),
    "ShearY": (_linear(0.0, 0.3), True),
    "TranslateX": (lambda bins, height, width: torch.linspace(0.0, 150.0 / 331.0 * width, bins), True),
    "TranslateY": (lambda bins, height, width: torch.linspace(0.0, 150.0 / 331.0 * height, bins), True),
    "Rotate": (_linear(0.0, 30.0), True),
    **_COLOUR,
    "Posterize": (_posterize(8, 4), False),
    **_SOLARIZE_AND_AFTER,
    "Invert": (_none, False),
}

#: RandAugment's operations: AutoAugment's without Invert, plus Identity first.
RANDAUGMENT = {"Identity": (_none, False), **{k: v for k, v in AUTOAUGMENT.items() if k != "Invert"}}

#: TrivialAugment's wide ranges.
TRIVIALAUGMENT_WIDE = {
    "Identity": (_none, False),
    "ShearX": (_linear(0.0, 0.99), True),
    "ShearY": (_linear(0.0, 0.99), True),
    "TranslateX": (_linear(0.0, 32.0), True),
    "TranslateY": (_linear(0.0, 32.0), True),
    "Rotate": (_linear(0.0, 135.0), True),
    **{name: (_linear(0.0, 0.99), True) for name in ("Brightness", "Color", "Contrast", "Sharpness")},
    "Posterize": (_posterize(8, 6), False),
    **_SOLARIZE_AND_AFTER,
}

#: AugMix without the operations that overlap ImageNet-C's corruptions (``all_ops=False``) ...
AUGMIX_PARTIAL = {
    "ShearX": (_linear(0.0, 0.3), True),
    "ShearY": (_linear(0.0, 0.3), True),
    "TranslateX": (lambda bins, height, width: torch.linspace(0.0, width / 3.0, bins), True),
    "TranslateY": (lambda bins, height, width: torch.linspace(0.0, height / 3.0, bins), True),
    "Rotate": (_linear(0.0, 30.0), True),
    "Posterize": (_posterize(4, 4), False),
    **_SOLARIZE_AND_AFTER,
}
#: ... and with them (the default).
AUGMIX = {**AUGMIX_PARTIAL, **_COLOUR}

#: AutoAugment's learned sub-policies: two (operation, probability, magnitude bin) steps each.
AUTOAUGMENT_POLICIES = {
    "imagenet": (
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)), (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)), (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)), (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)), (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)), (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)), (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)), (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)), (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)), (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)), (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ),
    "cifar10": (
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)), (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)), (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)), (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)), (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)), (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)), (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)), (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)), (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)), (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)), (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)), (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)), (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ),
    "svhn": (
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)), (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)), (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)), (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)), (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)), (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)), (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)), (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)), (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)), (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)), (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)), (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)), (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ),
}
