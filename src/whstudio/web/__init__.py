"""The HTTP layer: thin handlers over the domain, pages and the JSON API."""
