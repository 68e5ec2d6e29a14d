"""The rules of the product, on a Session, with no HTTP: one module per concept."""
