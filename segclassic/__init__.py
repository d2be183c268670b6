"""medjax segclassic (see README.md; work tracked in the issues)."""
