"""dastat: choose the data augmentation for knowledge distillation from the teacher alone."""
