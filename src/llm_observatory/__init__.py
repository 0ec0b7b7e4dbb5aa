"""LLM Observatory.

`llm_observatory` is shared by two distributions: the server (this directory) and the
SDK (packages/llm-observatory-sdk, which ships only `llm_observatory/sdk/`). Installed
side by side they share one directory; in a development checkout each is on its own
path, and this line makes the package span both.
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
