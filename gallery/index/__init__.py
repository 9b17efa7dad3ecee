"""The vector index: FAISS, chosen by the collection's size, placed on a GPU when there is one,
kept with a float16 copy of its vectors and saved atomically with a manifest."""
