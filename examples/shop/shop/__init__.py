"""An example web shop written as one deployable monolith.

Five domains (catalog, cart, orders, payments, users) live in one FastAPI app and one database.
Each domain owns its tables and exposes plain service functions; where one domain needs
another (cart asks catalog for prices, orders charges payments), it calls those functions with
JSON-serializable arguments, which is what lets ``toolkit split`` turn the calls into HTTP.
"""
