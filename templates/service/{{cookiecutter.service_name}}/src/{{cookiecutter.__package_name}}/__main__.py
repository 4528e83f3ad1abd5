"""``python -m {{ cookiecutter.__package_name }}``: serve the app (what the container runs)."""

from .app import app
from .server import serve_from_env

if __name__ == "__main__":
    serve_from_env(app)
