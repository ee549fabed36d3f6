"""Reporting (M6): performance, trading-quality and risk figures (analytics.py), the HTML dashboard
(dashboard.py), the report files and their names (files.py), and a day's outputs listed
(artifacts.py).
"""
