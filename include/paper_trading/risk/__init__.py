"""The pre-trade risk gate: every planned order approved or rejected with its reasons (gate.py), and
the text a person reads before approving a real batch (approval.py).
"""
