"""The broker boundary: the value types and the Broker protocol (types.py), the live-trading guard on
URLs (endpoint.py), and the one implementation over alpaca-py (alpaca.py).
"""
