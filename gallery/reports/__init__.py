"""What leaves the product as files: match reports, enquiry results, dossiers (PDF, CSV, JSON),
identification exports and IIIF annotations."""
