"""Config files for common."""
