"""The playground: example LLM applications that send real-looking traces to the stack.

Not part of the SDK distribution: it is the SDK's first user. `main` is the
`llm-observatory-playground` command, `scenarios` the example apps, `fake_openai` an
OpenAI-compatible provider that answers offline, `conversations` the made-up users
and sessions, `instrumentation` the official OpenAI instrumentation's set-up.
"""
