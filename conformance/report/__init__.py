"""Reports: the model and its JSON Schema, writers, summary, matrix and gate."""
