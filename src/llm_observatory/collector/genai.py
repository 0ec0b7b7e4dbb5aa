"""Moved to collector.processors.genai (kept until the CLI seed stops importing it)."""

from llm_observatory.collector.processors.genai import *  # noqa: F403
from llm_observatory.collector.processors.genai import extract_llm_fields  # noqa: F401
