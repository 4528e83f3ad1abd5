"""Payments against a simulated card processor."""
