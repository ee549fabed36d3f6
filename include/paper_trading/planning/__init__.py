"""Planning (M2): the rebalance plan and share orders from target weights (rebalance.py), the account
as it is now (account_now.py), and the input files a plan reads (inputs.py).
"""
