"""The one check of labels where they are made (models/labels.py): control characters and invisible or
right-to-left characters refused, NFC, look-alikes of another class refused naming both; used by teach
projects (add a class, import a zip), labels files and model metadata."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from visioncast.errors import InputError, ModelError
from visioncast.models.labels import check_labels, label_skeleton, parse_names, read_labels_file
from visioncast.teach.project import ProjectStore
from visioncast.teach.project_import import ZipImport

HOSTILE = [
    ('sad\nbasic.forever(() => basic.showString("PWNED"))', "U+000A"),
    ("a\x00b", "U+0000"),
    ("bell\x07", "U+0007"),
    ("del\x7f", "U+007F"),
    ("line\u2028sep", "U+2028 (LINE SEPARATOR)"),
    ("para\u2029sep", "U+2029 (PARAGRAPH SEPARATOR)"),
    ("\u202eevil", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("iso\u2066late", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ("zero\u200bwidth", "U+200B (ZERO WIDTH SPACE)"),
    ("\ufeffbom", "U+FEFF"),
]
LOOK_ALIKES = [
    ("cat", "cаt"),  # Cyrillic а
    ("person", "реrson"),  # Cyrillic р, е
    ("ok", "οk"),  # Greek ο
    ("happy", "HAPPY"),
    ("happy", "ｈａｐｐｙ"),  # fullwidth
    ("开心", "开心\u3000"[:2]),  # the same after trimming: a plain duplicate
    ("café", "cafe\u0301"),  # the same after NFC
    ("HAT", "НАТ"),  # Cyrillic capitals
]


@pytest.mark.parametrize(("label", "named"), HOSTILE)
def test_control_invisible_and_right_to_left_characters_are_refused(label: str, named: str) -> None:
    with pytest.raises(InputError, match=re.escape(named)):
        check_labels([label])


@pytest.mark.parametrize(("first", "second"), LOOK_ALIKES)
def test_a_look_alike_of_a_class_is_refused_naming_both(first: str, second: str) -> None:
    assert label_skeleton(first) == label_skeleton(second)
    with pytest.raises(InputError) as caught:
        check_labels([first, second])
    message = str(caught.value)
    if first != check_labels([second])[0]:
        assert repr(first) in message
        assert "looks like" in message
    else:
        assert "given twice" in message


def test_labels_are_trimmed_and_nfc_normalised_and_distinct_ones_pass() -> None:
    assert check_labels([" e\u0301te ", "开心", "愤怒", "cat", "cab", "😀", "👩\u200d💻"]) == (
        "\u00e9te", "开心", "愤怒", "cat", "cab", "😀", "👩\u200d💻")
    with pytest.raises(InputError, match="at most 64 characters"):
        check_labels(["x" * 65])
    with pytest.raises(InputError, match="must be text"):
        check_labels(["  "])


def test_a_new_class_is_checked_against_the_existing_ones() -> None:
    with pytest.raises(InputError, match="'cаt' looks like 'cat'"):
        check_labels(["cаt"], existing=["dog", "cat"])
    assert check_labels(["bird"], existing=["dog", "cat"]) == ("bird",)


def test_labels_files_and_metadata_keep_a_datasets_twins_but_not_look_alikes(tmp_path: Path) -> None:
    twins = tmp_path / "imagenet.txt"
    twins.write_text("crane\nkite\ncrane\n", encoding="utf-8")  # ImageNet names two classes "crane"
    assert read_labels_file(twins) == ("crane", "kite", "crane")
    look_alike = tmp_path / "labels.txt"
    look_alike.write_text("cat\ncаt\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"labels file '.*labels.txt': label 'cаt' looks like 'cat'"):
        read_labels_file(look_alike)
    with pytest.raises(ModelError, match=re.escape("U+000A")):
        parse_names(json.dumps(["ok", "sad\nbasic.forever()"]))
    with pytest.raises(ModelError, match=re.escape("U+202E")):
        parse_names(json.dumps({"0": "a", "1": "\u202eb"}))
    assert parse_names(json.dumps(["cafe\u0301"])) == ("café",)


def test_a_teach_project_refuses_a_look_alike_class_and_a_hostile_name(tmp_path: Path) -> None:
    store = ProjectStore(tmp_path)
    project = store.create("p")
    store.add_class(project["id"], "cat")
    with pytest.raises(InputError, match="'CAT' looks like 'cat'"):
        store.add_class(project["id"], "CAT")
    with pytest.raises(InputError, match=re.escape("U+000A")):
        store.add_class(project["id"], 'sad\nbasic.forever(() => basic.showString("PWNED"))')
    with pytest.raises(InputError, match="already in this project"):
        store.add_class(project["id"], " cat ")
    added = store.add_class(project["id"], "cafe\u0301")
    assert added["name"] == "café"
    assert [c["name"] for c in store.load(project["id"])["classes"]] == ["cat", "café"]


@pytest.mark.parametrize(("names", "message"), [
    (["cat", "cаt"], "'cаt' looks like 'cat'"),
    (["ok", "a\u202eb"], re.escape("U+202E")),
])
def test_an_imported_project_with_hostile_class_names_is_refused(names: list[str], message: str,
                                                                tmp_path: Path) -> None:
    store = ProjectStore(tmp_path)
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        meta = {"name": "x", "kind": "image",
                "classes": [{"id": f"{i:08x}", "name": name} for i, name in enumerate(names)]}
        zf.writestr("project.json", json.dumps(meta))
    with pytest.raises(InputError, match=message):
        ZipImport(store).run(data.getvalue(), owner="", max_pixels=10**6)
    assert store.projects() == []


def test_teach_on_the_command_line_refuses_a_look_alike_class_before_reading_any_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from visioncast.cli.main import main  # noqa: PLC0415 - the command line, only here

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code = main(["teach", "pets", "--class", f"cat={tmp_path / 'a'}", "--class", f"cаt={tmp_path / 'b'}"])
    assert code == 1
    assert "'cаt' looks like 'cat'" in capsys.readouterr().err
