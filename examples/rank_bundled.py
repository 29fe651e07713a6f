"""Rank the paper's nine data augmentations on the bundled Fashion-MNIST teacher.

    python examples/rank_bundled.py [--student resnet8]

The same as ``dastat rank``, from Python: the ranking converts to a DataFrame and JSON.
"""

import argparse

import dastat

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--student", default=None, help="a zoo name (fresh student) to add cutmix_pick_s and ce_*")
parser.add_argument("--max-images", type=int, default=16384)
args = parser.parse_args()

ranking = dastat.rank(student=args.student, max_images=args.max_images, progress=True)
columns = ["da", "t_stddev", "t_stddev_ci", "teacher_entropy", "distinct_from_next"]
print(ranking.to_frame()[columns].to_string(index=False))
