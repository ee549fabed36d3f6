"""The books (M5): reconciliation of what the broker says happened into fills, positions, cash and
equity (reconcile.py), and the ledger's order states kept in step with the broker (order_sync.py).
"""
