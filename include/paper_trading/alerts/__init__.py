"""Alerts (M6): the rules that judge the day's numbers (rules.py) and their delivery — alerts.log, de-
duplication, Slack, e-mail, webhooks (delivery.py).
"""
