"""Evaluation beyond the training condition: scores across SNRs and loads, and their plots."""
