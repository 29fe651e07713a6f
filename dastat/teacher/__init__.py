"""Teachers: a frozen network that takes images in [0, 1] and normalises them itself.

The type is :class:`Teacher` (:mod:`.model`); files are read by :mod:`.checkpoints`, hub
names by :mod:`.hub`, and :mod:`.load` settles the normalisation. Pairing a teacher
with its data and a student is :mod:`dastat.setting`'s.

:func:`load_teacher` accepts what people already have:

- ``None`` or ``"bundled"``: the bundled Fashion-MNIST resnet20;
- a RepDistiller / CRD checkpoint (``{'model': state_dict, 'epoch': …}``), a plain state
  dict (with or without DataParallel's ``module.`` prefix or ``num_batches_tracked``
  buffers) or a safetensors file, for any architecture of :mod:`dastat.models`, which is
  recognised from the weights;
- a TorchScript archive;
- ``torchvision:NAME[:WEIGHTS]`` and ``timm:NAME[:WEIGHTS]``, where ``WEIGHTS`` is a
  local file (or, for torchvision, a weights name such as ``IMAGENET1K_V1``); without
  it the library's pretrained weights are downloaded.

Files are read with ``torch.load(weights_only=True)``, which rebuilds tensors and plain
containers only. A fully pickled ``nn.Module`` needs ``trust=True``
(``--trust-checkpoint``), because unpickling it can run any code the file names.

The teacher's normalisation is, in order of precedence: ``mean``/``std`` given here,
the one stored with the checkpoint, the defaults of the data it will see.

>>> import os, tempfile, torch
>>> from dastat import models
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt_epoch_240.pth")
>>> torch.save({"model": models.create_model("resnet8", num_classes=10).state_dict(), "epoch": 240}, path)
>>> teacher = load_teacher(path, data="cifar10")
>>> teacher.arch, teacher.num_classes, teacher.in_channels, teacher.meta["extras"]
('resnet8', 10, 3, {'epoch': 240})
>>> teacher(torch.rand(2, 3, 32, 32)).shape
torch.Size([2, 10])
"""

from .checkpoints import BUNDLED, bundled_manifest
from .load import inspect_checkpoint, load_teacher
from .model import Teacher

__all__ = ["BUNDLED", "Teacher", "bundled_manifest", "inspect_checkpoint", "load_teacher"]
