"""Per-trial training: the model, its optimizer and schedule, the loop and exact checkpoints.

Only ``trainables.trainable`` imports Ray; everything else is plain PyTorch so it can be tested
and reused without a cluster.
"""
