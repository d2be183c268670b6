"""Config files for slicedae."""
