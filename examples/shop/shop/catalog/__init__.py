"""Products, prices and stock."""
