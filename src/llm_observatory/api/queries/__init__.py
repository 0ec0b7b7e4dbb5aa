"""The API's SQL and the functions that run it, one module per kind of answer."""
