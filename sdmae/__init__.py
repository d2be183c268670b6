"""medjax sdmae (see README.md; work tracked in the issues)."""
