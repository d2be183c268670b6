"""Config files for segclassic."""
