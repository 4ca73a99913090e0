"""The pages' files through Flask's test client: content-hashed URLs in every page (scripts, styles, fonts,
the message bundle), imports and font URLs inside the files hashed too, a year of caching for the current
hash and revalidation otherwise, Brotli or gzip as the request accepts, streams and small answers left as
they are."""

from __future__ import annotations

import gzip
import hashlib
import re

import brotli
import pytest

from visioncast import config
from visioncast.server.app import create_app

HASHED = re.compile(r"""(?:href|src)="(/static/[^"?]+)\?v=([0-9a-f]{12})\"""")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("assets")
    overrides = {"data_dir": str(data), "mqtt.enabled": False, "broker.enabled": False}
    cfg = config.load(env={}, overrides=overrides)
    app = create_app(cfg)
    yield app.test_client()
    app.extensions["visioncast"].close()


def served(client, url: str) -> bytes:
    answer = client.get(url)
    assert answer.status_code == 200, url
    return answer.get_data()


@pytest.mark.parametrize("path", ["/", "/detect?lang=zh", "/video?lang=en", "/api-docs"])
def test_every_file_of_a_page_is_linked_by_its_content_hash(client, path: str) -> None:
    html = client.get(path).get_data(as_text=True)
    links = HASHED.findall(html)
    every_page = {"/static/app.css", "/static/fonts/cjk/fonts.css", "/static/fonts/cjk/en.woff2"}
    assert every_page <= {u for u, _ in links}
    assert not re.search(r"""(?:href|src)="/static/[^"?]+\"""", html), "an unhashed static URL"
    for url, version in links:
        assert hashlib.sha256(served(client, url)).hexdigest()[:12] == version, url


def test_imports_and_font_urls_inside_the_files_carry_hashes(client) -> None:
    app_js = served(client, "/static/app.js").decode()
    imports = re.findall(r'from "\./([a-z0-9_]+\.js)\?v=([0-9a-f]{12})"', app_js)
    assert {name for name, _ in imports} >= {"i18n.js", "draw.js"}
    for name, version in imports:
        assert hashlib.sha256(served(client, f"/static/{name}")).hexdigest()[:12] == version
    css = served(client, "/static/fonts/cjk/fonts.css").decode()
    fonts = re.findall(r'url\("([0-9a-z]+\.woff2)\?v=([0-9a-f]{12})"\)', css)
    assert len(fonts) > 50
    assert "latin.woff2" not in {name for name, _ in fonts}  # pages keep the system font for Latin
    name, version = fonts[0]
    assert hashlib.sha256(served(client, f"/static/fonts/cjk/{name}")).hexdigest()[:12] == version


def test_the_current_hash_is_cached_for_good_and_anything_else_revalidated(client) -> None:
    html = client.get("/detect").get_data(as_text=True)
    url, version = next((u, v) for u, v in HASHED.findall(html) if u.endswith("detect.js"))
    current = client.get(f"{url}?v={version}")
    assert current.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for other in (url, f"{url}?v=000000000000"):
        answer = client.get(other)
        assert answer.headers["Cache-Control"] == "no-cache"
        etag = answer.headers["ETag"]
        again = client.get(other, headers={"If-None-Match": etag})
        assert again.status_code == 304
    assert client.get("/static/no-such.js").status_code == 404
    assert client.get("/static/../app.py").status_code == 404


@pytest.mark.parametrize(("offered", "encoding"), [
    ("gzip, deflate, br, zstd", "br"), ("gzip, deflate", "gzip"), ("identity", None),
    ("br;q=0, gzip", "gzip")])
@pytest.mark.parametrize("url", ["/static/app.js", "/static/app.css", "/detect?lang=zh", "/openapi.json"])
def test_pages_scripts_styles_and_json_come_compressed_as_accepted(client, url: str, offered: str,
                                                                   encoding: str | None) -> None:
    plain = client.get(url).get_data()
    answer = client.get(url, headers={"Accept-Encoding": offered})
    assert answer.headers.get("Content-Encoding") == encoding
    assert "Accept-Encoding" in answer.headers["Vary"]
    body = answer.get_data()
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[encoding](body)
    assert decoded == plain
    if encoding:
        assert len(body) < len(plain) / 2
        assert int(answer.headers["Content-Length"]) == len(body)


def test_fonts_images_and_small_answers_are_sent_as_they_are(client) -> None:
    for url in ("/static/fonts/cjk/en.woff2", "/samples/messi5.jpg", "/healthz"):
        with client.get(url, headers={"Accept-Encoding": "gzip, br"}) as answer:  # files are streamed
            assert answer.status_code == 200, url
            assert "Content-Encoding" not in answer.headers, url
