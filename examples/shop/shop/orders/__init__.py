"""Orders: turn a cart into a paid order, and cancel it again."""
