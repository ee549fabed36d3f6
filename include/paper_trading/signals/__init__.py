"""Signals (M1): the strategies' target-weight files read (files/), consolidated into the day's target
weights (bus.py), and whether they are ready to be read (readiness.py, wait_policy.py).
"""
