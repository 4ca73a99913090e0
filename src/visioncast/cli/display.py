"""Showing images in an OpenCV window when the machine can, and saying clearly why when it cannot."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np


def display_problem() -> str | None:
    """None when an OpenCV window can open here, else the reason in plain words."""
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and headless:
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    info = cv2.getBuildInformation()
    gui = next((line for line in info.splitlines() if line.strip().startswith("GUI:")), "GUI: NONE")
    if gui.split(":", 1)[1].strip().upper() in ("NONE", ""):
        return ("this OpenCV has no GUI support (opencv-python-headless); "
                "`pip install opencv-python` to get windows")
    return None


def show(title: str, image: np.ndarray) -> str | None:
    """Show ``image`` until a key is pressed; returns None when shown, else why it was not."""
    problem = display_problem()
    if problem:
        return problem
    try:
        cv2.imshow(title, image)
        cv2.waitKey(0)
        cv2.destroyWindow(title)
    except cv2.error as exc:  # a GUI build whose display cannot be reached (stale DISPLAY, no X forwarding)
        return f"the window could not open: {str(exc).strip().splitlines()[-1]}"
    return None
