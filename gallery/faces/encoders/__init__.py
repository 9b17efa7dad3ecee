"""Face encoders: a batch of aligned crops in, L2-normalised float32 vectors out."""
