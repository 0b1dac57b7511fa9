"""Checkpoint ladders: sequences of models of rising strength, each with its pretraining loss."""
