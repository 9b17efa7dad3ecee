"""The foundation every layer may use: domain errors, the one atomic file writer, the release,
catalogue dates, HTTP with retries. Imports nothing else of the product."""
