"""LLM Observatory."""
