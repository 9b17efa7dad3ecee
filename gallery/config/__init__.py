"""Settings (the one typed object built at the entry point), profiles and the compute device."""
