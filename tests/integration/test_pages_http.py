"""The pages through Flask's test client: every page renders with the shared layout and navigation, references
only local assets (works offline, no CDN), is documented in the OpenAPI document, and a feature's nav link
appears everywhere. The browser behaviour is in tests/e2e."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask, url_for
from tests.apps import app_for

from visioncast.server.pages import add_nav_link, nav_links

PAGES = ["/", "/classify", "/detect"]
STATIC = Path(__file__).parents[2] / "src" / "visioncast" / "server" / "static"
ASSET = re.compile(r"""(?:src|href)="([^"]+)\"""")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return app_for(tmp_path_factory.mktemp("pages"))


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_the_layout_and_marks_itself_in_the_nav(app: Flask, path: str) -> None:
    resp = app.test_client().get(path)
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    for landmark in ('<header class="site-header">', '<nav aria-label="Pages">', '<main id="main"'):
        assert landmark in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', html)
    assert current == ([] if path == "/" else [path])


@pytest.mark.parametrize("path", PAGES)
def test_every_asset_is_local_and_answers(app: Flask, path: str) -> None:
    client = app.test_client()
    html = client.get(path).get_data(as_text=True)
    assets = [a for a in ASSET.findall(html) if not a.startswith(("#", "data:"))]
    assert assets, "the page links its stylesheet and pages"
    for asset in assets:
        assert asset.startswith("/"), f"{path} links {asset!r}: pages must work offline (no CDN)"
        with client.get(asset) as resp:  # static files are streamed: close them
            assert resp.status_code == 200, asset


def test_scripts_import_only_local_modules() -> None:
    for script in STATIC.glob("*.js"):
        imports = re.findall(r'^\s*(?:import|} from)\b.*?"([^"]+)"', script.read_text(encoding="utf-8"), re.M)
        assert all(name.startswith("./") for name in imports), (script.name, imports)


def test_pages_are_documented_in_openapi(app: Flask) -> None:
    spec = app.test_client().get("/openapi.json").json
    for path in PAGES:
        operation = spec["paths"][path]["get"]
        assert "x-undocumented" not in operation, path
        assert operation["tags"] == ["pages"]
        assert "text/html" in operation["responses"]["200"]["content"]


def test_the_index_links_every_page_of_the_nav(app: Flask) -> None:
    html = app.test_client().get("/").get_data(as_text=True)
    with app.test_request_context():
        for link in nav_links(app):
            assert f'<h3><a href="{url_for(link.endpoint)}">{link.label}</a></h3>' in html
    assert 'href="/openapi.json"' in html


def test_add_nav_link_adds_a_page_everywhere_once(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    app.add_url_rule("/extra", "extra_page", lambda: "extra")
    add_nav_link(app, "extra_page", "Extra page", "One more page for the test.")
    with pytest.raises(ValueError, match="'extra_page' is already registered"):
        add_nav_link(app, "extra_page", "Again")
    client = app.test_client()
    for path in PAGES:
        assert '<li><a href="/extra">Extra page</a></li>' in client.get(path).get_data(as_text=True)
    assert "One more page for the test." in client.get("/").get_data(as_text=True)
    assert [link.label for link in nav_links(app)][:2] == ["Classify", "Detect"]
