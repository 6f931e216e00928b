"""Fitted results as plain, serialisable data (JSON), read by the scoring core."""
