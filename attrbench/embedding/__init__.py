"""Metric-learning track: embedding networks, embedding targets, Grad-CAM with weight transfer."""
