"""JSON API under /api/v1, on the same domain functions as the pages."""
