"""Helpers shared by the test packages and the performance scripts."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
