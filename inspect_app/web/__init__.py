"""HTML pages: thin routers that parse, call the domain and render."""
