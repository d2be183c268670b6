"""Config files for sdmae."""
