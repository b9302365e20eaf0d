"""Adapters that run the pipeline inside labeling platforms (CVAT, FiftyOne, Label Studio)."""
