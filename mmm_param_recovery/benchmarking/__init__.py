"""Fit, measure and compare MMM libraries on synthetic data with known truth."""
