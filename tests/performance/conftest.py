"""The performance scripts are programs, not tests: keep pytest from importing them.

collector_load_test.py matches pytest's *_test.py pattern, and importing locust
monkey-patches the standard library with gevent for the whole test session.
"""

collect_ignore = ["collector_load_test.py"]
