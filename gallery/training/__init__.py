"""Adapting the models to a museum's labelled collection (the ArtFace recipe).

- `clip_lora`: LoRA (peft) on the CLIP ViT-B/16 vision tower plus a projection head.
- `iresnet`: IResNet100 fine-tuned (with configurable frozen stages) into the *tuned* component.

Both train with a batch-hard triplet loss on P x K batches (P sitters x K faces), AdamW with
warm-up and a cosine schedule, painting-minded augmentations, a sitter-disjoint validation split
with early stopping on validation EER, and checkpoints to resume from. Deterministic for a seed.
"""
