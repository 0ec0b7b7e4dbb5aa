"""The test suite, one package per kind of test (unit, lint, integration, smoke,
performance, browser, swarm) and their shared helpers in tests.support.

Everything is imported from the repository root (`from tests.support.otlp_builders
import ...`, `import tasks`): pytest puts the root on sys.path because tests/ is a
package, and the performance scripts run as `python -m tests.performance.<name>`.
"""
