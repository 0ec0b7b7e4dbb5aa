"""The query API: REST under /api/v1, GraphQL at /graphql, read-only over TimescaleDB."""
