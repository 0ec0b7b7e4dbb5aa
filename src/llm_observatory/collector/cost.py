"""Moved to collector.processors.cost (kept until the CLI seed stops importing it)."""

from llm_observatory.collector.processors.cost import *  # noqa: F403
from llm_observatory.collector.processors.cost import CostCalculator  # noqa: F401
