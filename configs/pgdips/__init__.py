"""Config files for pgdips."""
