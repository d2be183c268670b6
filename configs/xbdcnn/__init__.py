"""Config files for xbdcnn."""
