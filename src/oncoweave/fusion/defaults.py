"""The fusion stage's defaults the command line shows, importable for nothing (standard library
only): how a patient's lesions become one row, and how many resamples the metric intervals use."""

from __future__ import annotations

# Whose features the rad_/deep_ columns hold: the largest lesion by voxel volume, or the mean.
LESION_AGGREGATIONS = ("largest", "mean")
BOOTSTRAP_RESAMPLES = 1000
