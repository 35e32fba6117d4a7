"""Operator commands behind ``python queues.py check | health | failed | retry``.

Each returns data (checklist items, a health problem, failed jobs); ``queues.py`` prints it.
"""
