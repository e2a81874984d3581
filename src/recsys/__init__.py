"""Recommendations from implicit feedback: one Recommender interface over several models."""
