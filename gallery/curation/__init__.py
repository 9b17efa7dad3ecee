"""What a curator works with beyond a search: suggestions, clusters of unidentified faces, replicas,
a sitter's dossier, explanations of a match."""
