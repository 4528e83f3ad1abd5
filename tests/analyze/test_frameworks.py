"""Routes, models and table accesses on small trees for each framework, plus what the
analysis reports instead of failing on (syntax errors, undecodable files, dynamic and star
imports). FastAPI trees are checked against FastAPI itself; the others against what the
framework documents."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from toolkit.analyze import analyze

MakeTree = Callable[[dict[str, str | bytes]], Path]

FLASK_TREE: dict[str, str | bytes] = {
    "app/__init__.py": """
        from flask import Flask
        from app.views import bp
        from app.admin import admin

        def create_app():
            app = Flask(__name__)
            app.register_blueprint(bp, url_prefix="/shop")
            app.register_blueprint(admin)
            app.add_url_rule("/health", view_func=health)
            return app

        def health():
            return "ok"
    """,
    "app/views.py": """
        from flask import Blueprint
        from app.models import Item, db

        bp = Blueprint("shop", __name__, url_prefix="/ignored-when-mounted-with-a-prefix")

        @bp.route("/items", methods=["GET", "POST"])
        def items():
            db.session.add(Item())
            return Item.query.all()

        @bp.get("/items/<int:item_id>")
        def item(item_id):
            return Item.query.get(item_id)
    """,
    "app/admin.py": """
        from flask import Blueprint
        from flask.views import MethodView

        admin = Blueprint("admin", __name__, url_prefix="/admin")

        class Users(MethodView):
            def get(self):
                return []

            def delete(self):
                return ""

        admin.add_url_rule("/users", view_func=Users.as_view("users"))
    """,
    "app/models.py": """
        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()

        class Item(db.Model):
            id = db.Column(db.Integer, primary_key=True)

        class OrderLine(db.Model):
            __tablename__ = "order_lines"
            id = db.Column(db.Integer, primary_key=True)

        item_tags = db.Table("item_tags", db.Column("item_id", db.Integer), db.Column("tag", db.String))
    """,
}

DJANGO_TREE: dict[str, str | bytes] = {
    "proj/__init__.py": "",
    "proj/settings.py": """
        BASE_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
        LOCAL_APPS = ["proj.blog"]
        INSTALLED_APPS = BASE_APPS + LOCAL_APPS
        INSTALLED_APPS.append("proj.shop.apps.ShopConfig")
        ROOT_URLCONF = "proj.urls"
        WSGI_APPLICATION = "proj.wsgi.application"
    """,
    "proj/urls.py": """
        from django.contrib import admin
        from django.urls import include, path, re_path
        from proj.blog import views

        urlpatterns = [
            path("blog/", include("proj.blog.urls")),
            re_path(r"^about/$", views.about),
            path("admin/", admin.site.urls),
            path("shop/", include([path("products/", views.products)])),
        ]
    """,
    "proj/wsgi.py": """
        from django.core.wsgi import get_wsgi_application

        application = get_wsgi_application()
    """,
    "proj/blog/__init__.py": "",
    "proj/blog/urls.py": """
        from django.urls import path
        from . import views

        app_name = "blog"
        urlpatterns = [
            path("", views.index, name="index"),
            path("<int:pk>/", views.PostDetail.as_view(), name="detail"),
        ]
        urlpatterns += [path("feed/", views.feed)]
    """,
    "proj/blog/views.py": """
        from django.views.generic import DetailView
        from proj.blog.models import Post
        from proj.shop.models import Product

        def index(request):
            return Post.objects.all()

        class PostDetail(DetailView):
            model = Post

        def about(request):
            return "about"

        def feed(request):
            return Post.objects.create(title="x")

        def products(request):
            return Product.objects.count()
    """,
    "proj/blog/models.py": """
        from django.db import models

        class Stamped(models.Model):
            created = models.DateTimeField(auto_now_add=True)

            class Meta:
                abstract = True

        class Post(Stamped):
            title = models.CharField(max_length=100)

        class Comment(models.Model):
            class Meta:
                db_table = "blog_comments_v2"
    """,
    "proj/shop/__init__.py": "",
    "proj/shop/apps.py": """
        from django.apps import AppConfig

        class ShopConfig(AppConfig):
            name = "proj.shop"
            label = "store"
    """,
    "proj/shop/models.py": """
        from django.db import models

        class Product(models.Model):
            name = models.CharField(max_length=10)
    """,
}

FASTAPI_TREE: dict[str, str | bytes] = {
    "api/__init__.py": "",
    "api/main.py": """
        from fastapi import FastAPI
        from api.routers import items, users

        app = FastAPI()
        app.include_router(items.router, prefix="/v1")
        app.include_router(users.router)

        @app.get("/ping")
        def ping() -> str:
            return "pong"
    """,
    "api/routers/__init__.py": "",
    "api/routers/items.py": """
        from fastapi import APIRouter

        router = APIRouter(prefix="/items")

        @router.get("/")
        def list_items() -> list[int]:
            return []

        @router.api_route("/{item_id}", methods=["PUT", "PATCH"])
        def upsert(item_id: int) -> int:
            return item_id
    """,
    "api/routers/users.py": """
        from fastapi import APIRouter

        router = APIRouter(prefix="/users")
        tokens = APIRouter(prefix="/{uid}/tokens")

        @tokens.post("")
        def create_token(uid: str) -> str:
            return uid

        @router.delete("/{uid}")
        async def delete_user(uid: str) -> None:
            return None

        router.include_router(tokens)
    """,
}


def _routes(root: Path) -> set[tuple[str, str, str]]:
    program = analyze(root, use_cache=False).program
    return {(method, r.path, r.handler) for r in program.routes for method in r.methods}


def test_flask_blueprints_prefixes_and_class_views(make_tree: MakeTree) -> None:
    assert _routes(make_tree(FLASK_TREE)) == {
        ("GET", "/shop/items", "app.views:items"),
        ("POST", "/shop/items", "app.views:items"),
        ("GET", "/shop/items/<int:item_id>", "app.views:item"),
        ("GET", "/admin/users", "app.admin:Users"),
        ("DELETE", "/admin/users", "app.admin:Users"),
        ("GET", "/health", "app:health"),
    }


def test_flask_sqlalchemy_models_and_accesses(make_tree: MakeTree) -> None:
    program = analyze(make_tree(FLASK_TREE), use_cache=False).program
    assert {(m.table, m.symbol) for m in program.models} == {
        ("item", "app.models:Item"),
        ("order_lines", "app.models:OrderLine"),
        ("item_tags", "app.models:item_tags"),
    }
    assert program.framework == "flask"
    assert program.app == "app:create_app"
    assert "app.views" in program.table_access["item"]
    assert program.table_writes["item"]["app.views"] >= 1


def test_django_urlconf_apps_and_models(make_tree: MakeTree) -> None:
    program = analyze(make_tree(DJANGO_TREE), use_cache=False).program
    routes = {(r.path, r.handler) for r in program.routes}
    assert routes == {
        ("/blog/", "proj.blog.views:index"),
        ("/blog/<int:pk>/", "proj.blog.views:PostDetail"),
        ("/blog/feed/", "proj.blog.views:feed"),
        ("/about/", "proj.blog.views:about"),
        ("/shop/products/", "proj.blog.views:products"),
    }
    assert {(m.table, m.symbol) for m in program.models} == {
        ("blog_post", "proj.blog.models:Post"),
        ("blog_comments_v2", "proj.blog.models:Comment"),
        ("store_product", "proj.shop.models:Product"),
    }
    assert program.installed_apps == ("proj.blog", "proj.shop")
    assert program.framework == "django"
    assert program.app == "proj.wsgi:application"
    assert program.table_writes["blog_post"]["proj.blog.views"] == 1
    assert "proj.blog.views" in program.table_access["store_product"]


@pytest.fixture
def fastapi_app(make_tree: MakeTree) -> Iterator[tuple[Path, object]]:
    root = make_tree(FASTAPI_TREE)
    sys.path.insert(0, str(root))
    try:
        yield root, importlib.import_module("api.main").app
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "api" or m.startswith("api.")]:
            del sys.modules[name]


def test_fastapi_routes_match_fastapi_itself(fastapi_app: tuple[Path, object]) -> None:
    root, app = fastapi_app
    schema = app.openapi()  # type: ignore[attr-defined]
    expected = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    found = _routes(root)
    assert {(m, p) for m, p, _ in found} == expected
    assert ("POST", "/users/{uid}/tokens", "api.routers.users:create_token") in found


def test_problems_are_reported_not_fatal(make_tree: MakeTree) -> None:
    root = make_tree(
        {
            "pkg/__init__.py": "",
            "pkg/broken.py": "def f(:\n    pass\n",
            "pkg/latin.py": b"name = '\xe9t\xe9'\n",
            "pkg/binary.py": b"\x00\x01\x02",
            "pkg/dyn.py": """
                import importlib
                from os.path import *

                def load(name):
                    importlib.import_module("pkg.plugins." + name)
                    return importlib.import_module("pkg.util").helper()
            """,
            "pkg/util.py": "def helper():\n    return 1\n",
        }
    )
    analysis = analyze(root, use_cache=False)
    kinds = {(p.kind, p.rel_path) for p in analysis.problems}
    assert kinds == {
        ("syntax-error", "pkg/broken.py"),
        ("undecodable", "pkg/latin.py"),
        ("undecodable", "pkg/binary.py"),
        ("star-import", "pkg/dyn.py"),
        ("dynamic-import", "pkg/dyn.py"),
    }
    dynamic = [p for p in analysis.problems if p.kind == "dynamic-import"]
    assert len(dynamic) == 2
    assert analysis.program.import_edges[("pkg.dyn", "pkg.util")] == 1
    assert set(analysis.program.modules) >= {"pkg.broken", "pkg.latin", "pkg.util"}
