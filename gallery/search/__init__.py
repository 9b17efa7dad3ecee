"""Search: a query image's faces against the collection, ranked candidate sitters with the works
behind each; batching for the page."""
