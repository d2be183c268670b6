"""medjax xbdcnn (see README.md; work tracked in the issues)."""
