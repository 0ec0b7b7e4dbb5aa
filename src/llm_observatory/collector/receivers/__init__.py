"""The collector's OTLP receivers: HTTP (4318) and gRPC (4317) over one pipeline."""
