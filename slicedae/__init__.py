"""medjax slicedae (see README.md; work tracked in the issues)."""
