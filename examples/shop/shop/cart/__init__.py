"""Shopping carts: one open cart per user."""
