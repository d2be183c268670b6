"""ml-collections config files, one per experiment: configs/<method>/<experiment>.py."""
