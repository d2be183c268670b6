"""medjax pgdips (see README.md; work tracked in the issues)."""
