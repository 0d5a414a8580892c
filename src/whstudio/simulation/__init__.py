"""Simulated annotators of known accuracy, for the quality tests and benchmark (`crowd.py`)."""
