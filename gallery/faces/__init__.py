"""The face pipeline: image -> detected faces (box, 5 landmarks) -> aligned crops -> per-component
vectors -> one fused vector. Knows nothing of the collection database."""
