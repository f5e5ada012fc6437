"""Losses, the training loop and the teacher -> DKD student -> LoRA -> merge pipeline."""
