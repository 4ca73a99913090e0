"""The two message catalogues (static/i18n/en.json, zh.json): the same keys and placeholders in both, every
key a template or script asks for exists, every error code has its message, the web font draws every Chinese
character the pages use; the language of a request; the error page and JSON errors."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from visioncast import config
from visioncast import lang as words
from visioncast.draw import palette
from visioncast.models.labels import BUILTIN
from visioncast.server import i18n
from visioncast.server.app import create_app
from visioncast.server.errors import CODES
from visioncast.server.pages import palette_hex
from visioncast.tasks.face import YuNetFace

SERVER = Path(str(resources.files("visioncast.server")))
KEY_CALL = re.compile(r"""\bt\(\s*["']([a-z0-9_\-]+(?:\.[a-z0-9_\-]+)+)["']""")
VAR = re.compile(r"\{(\w+)\}")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def keys_used() -> dict[str, str]:
    """Every literal key passed to t(…) in the templates and scripts → the file that asks for it."""
    used = {}
    for path in [*SERVER.glob("templates/*.html"), *SERVER.glob("static/*.js")]:
        for key in KEY_CALL.findall(path.read_text(encoding="utf-8")):
            used[key] = path.name
    return used


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh")
    assert sorted(en) == sorted(zh), set(en) ^ set(zh)
    for key in en:
        assert set(VAR.findall(en[key])) == set(VAR.findall(zh[key])), key
        assert zh[key].strip(), key


def test_every_key_a_page_asks_for_exists() -> None:
    used = keys_used()
    assert len(used) > 80
    missing = {key: where for key, where in used.items() if key not in i18n.catalogue("en")}
    assert missing == {}


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_error_code_has_a_message_in_both_languages(code: str) -> None:
    assert f"error.{code}" in i18n.catalogue("en")
    assert f"error.{code}" in i18n.catalogue("zh")


def test_the_pages_own_chinese_is_in_the_slices_every_chinese_page_loads() -> None:
    """The Chinese of the catalogue and of the class names comes from the "en" and "ui" slices (base.html
    preloads them), the Chinese of the English catalogue from "en" alone; the font files agree with the
    manifest. A new message with new characters still renders (some slice has every character), one slice
    more: run tools/make_webfont.py."""
    ttlib = pytest.importorskip("fontTools.ttLib", reason="checking the font needs fontTools")
    folder = SERVER / "static" / "fonts" / "cjk"
    cmaps = {name: ttlib.TTFont(str(folder / f"{name}.woff2")).getBestCmap() for name in ("en", "ui")}
    zh = "".join(i18n.catalogue("zh").values()) + "".join(i18n.label_names("zh").values())
    cjk = {c for c in zh if ord(c) >= 0x2E80}
    assert sorted(c for c in cjk if ord(c) not in cmaps["en"] and ord(c) not in cmaps["ui"]) == []
    english = {c for c in "".join(i18n.catalogue("en").values()) if ord(c) >= 0x2E80}
    assert english == {chr(p) for p in cmaps["en"] if p >= 0x2E80}


def test_every_shipped_class_name_has_one_chinese_name_and_english_pages_get_none() -> None:
    names = i18n.label_names("zh")
    labels = {label for builtin in BUILTIN.values() for label in builtin} | set(YuNetFace.labels)
    assert set(names) == labels, "labels-zh.json names exactly the COCO-80, CIFAR-10 and face classes"
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", name) for name in names.values()), names
    assert names["person"] == "人"
    assert names["automobile"] == names["car"] == "汽车"
    assert i18n.label_names("en") == {}


def test_the_page_bundle_carries_its_languages_messages_and_class_names(client) -> None:
    """The page names its bundle (a content-hashed static file) instead of inlining 40 KB of messages."""
    bundles = {}
    for lang in ("zh", "en"):
        html = client.get(f"/detect?lang={lang}").get_data(as_text=True)
        data = json.loads(re.search(r'id="visioncast-data">([^<]*)<', html).group(1))
        assert data["lang"] == lang
        assert re.fullmatch(rf"/static/i18n/page-{lang}\.json\?v=[0-9a-f]{{12}}", data["bundle"])
        assert len(html) < 12_000
        bundles[lang] = client.get(data["bundle"]).get_json()
    assert bundles["zh"]["labels"]["airplane"] == "飞机"
    assert bundles["en"]["labels"] == {}
    assert bundles["zh"]["messages"]["detect.title"] != bundles["en"]["messages"]["detect.title"]
    assert bundles["zh"]["palette"][:8] == palette_hex(8)


@pytest.mark.parametrize(("query", "cookie", "accept", "lang"), [
    (None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    (None, None, "zh-TW", "zh"),
    (None, None, "en-US,en;q=0.9", "en"),
    (None, None, "fr-FR", "en"),
    (None, None, "", "en"),
    (None, "en", "zh-CN", "en"),
    ("zh", "en", "en-US", "zh"),
    ("xx", "zh", "en-US", "zh"),
])
def test_language_choice(query: str | None, cookie: str | None, accept: str, lang: str) -> None:
    assert i18n.choose(query, cookie, parse_accept_header(accept, LanguageAccept)) == lang


def test_translate_fills_placeholders_and_falls_back() -> None:
    assert i18n.translate("en", "detect.found", {"n": 3, "list": "person"}) == "Found 3 objects: person."
    assert i18n.translate("zh", "detect.found", {"n": 3, "list": "人"}) == "找到 3 个物体：人。"
    assert i18n.translate("zh", "no.such.key") == "no.such.key"


def test_one_palette_for_pages_and_images() -> None:
    hexes = palette_hex(8)
    for class_id, hex_ in enumerate(hexes):
        b, g, r = palette(class_id)
        assert hex_ == f"#{r:02x}{g:02x}{b:02x}"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("i18n")
    overrides = {"data_dir": str(data), "mqtt.enabled": False, "broker.enabled": False,
                 "server.token": "a-token-for-the-sign-in-form"}
    cfg = config.load(env={}, overrides=overrides)
    return create_app(cfg)


@pytest.fixture
def client(app):
    return app.test_client()  # a fresh cookie jar per test


def test_pages_speak_the_browsers_language_and_remember_a_switch(client) -> None:
    zh = client.get("/detect", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-CN"' in zh.get_data(as_text=True)
    assert "物体检测" in zh.get_data(as_text=True)
    assert "Accept-Language" in zh.headers["Vary"]
    switched = client.get("/detect?lang=en", headers={"Accept-Language": "zh-CN"})
    assert "Detect objects" in switched.get_data(as_text=True)
    assert "visioncast_lang=en" in switched.headers["Set-Cookie"]
    again = client.get("/classify", headers={"Accept-Language": "zh-CN"})  # the test client keeps cookies
    assert '<html lang="en"' in again.get_data(as_text=True)


def test_a_mistyped_url_gets_the_page_with_the_navigation_and_the_api_gets_json(client) -> None:
    page = client.get("/detcet", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "找不到这个页面" in html
    assert 'href="/detect"' in html
    api = client.get("/api/v1/detcet")
    assert api.status_code == 404
    assert api.get_json()["error"] == "not_found"


def test_the_api_reference_speaks_chinese_with_every_operation_and_parameter(client) -> None:
    """?lang=zh translates every summary, description, parameter and response description and tag
    (api-zh.json, keyed by the English text); names, paths and schemas stay; the table has no entry the
    document no longer uses."""
    en = client.get("/openapi.json").get_json()
    zh = client.get("/openapi.json?lang=zh").get_json()
    assert en["paths"].keys() == zh["paths"].keys()
    parts = ("summary", "description", "parameter", "response", "tag")
    used: dict[str, set[str]] = {part: set() for part in parts}
    for path, methods in en["paths"].items():
        for method, op in methods.items():
            other = zh["paths"][path][method]
            assert other["operationId"] == op["operationId"]
            used["summary"].add(op["summary"])
            assert CHINESE.search(other["summary"]), op["summary"]
            if "description" in op:
                used["description"].add(op["description"])
                assert CHINESE.search(other["description"]), op["description"]
            for mine, theirs in zip(op.get("parameters", []), other.get("parameters", []), strict=True):
                assert mine["name"] == theirs["name"]
                if "description" in mine:
                    used["parameter"].add(mine["description"])
                    assert CHINESE.search(theirs["description"]), mine["description"]
            for status, answer in op["responses"].items():
                used["response"].add(answer["description"])
                assert CHINESE.search(other["responses"][status]["description"]), answer["description"]
            used["tag"].update(op.get("tags", []))
    assert {t["name"] for t in zh["tags"]} == used["tag"]
    assert dict(zip(["视频"], [t["x-displayName"] for t in zh["tags"] if t["name"] == "video"], strict=True))
    table = words.api_text("zh")
    for part, texts in used.items():
        assert set(table[part]) == texts, f"api-zh.json {part}: stale or missing entries"


def test_sign_in_pages_speak_the_visitors_language(client) -> None:
    page = client.get("/signin", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "<h1>老师登录</h1>" in page
    assert "老师口令" in page
    wrong = client.post("/signin", data={"token": "wrong", "next": "/"},
                        headers={"Accept-Language": "zh-CN", "Origin": "http://localhost"})
    assert wrong.status_code == 401
    assert "口令不对" in wrong.get_data(as_text=True)
    english = client.get("/signin?lang=en").get_data(as_text=True)
    assert "<h1>Teacher sign-in</h1>" in english
