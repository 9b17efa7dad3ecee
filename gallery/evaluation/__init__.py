"""Measuring the models on labelled faces: EER, TAR@FAR, rank-k, ROC, and the calibration of scores
to false-match rates."""
