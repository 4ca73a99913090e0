"""Make the phone-photo and small-face test files of tests/data from files already there. Build time only.

    python tools/make_test_photos.py   # rewrites motion_photo.jpg, zidane.heic and small_faces.jpg

* ``motion_photo.jpg``: squat.jpg re-encoded (quality 90, EXIF orientation 1) with the XMP a Pixel camera
  writes for a Motion Photo (Camera:MotionPhoto 1 and a Container:Directory whose second item is the video,
  plus the older GCamera:MicroVideo fields with the video's offset from the end), followed by
  vtest_clip.mp4 byte for byte after the JPEG's end marker — the layout of Google's Motion Photo format 1.0.
* ``zidane.heic``: zidane.jpg as iPhones store photos: HEVC in HEIF (pillow-heif's x265 encoder, quality 45),
  the pixels kept as the sensor saw them (turned a quarter to the left) and an ``irot`` transform that shows
  them upright, so a reader that ignores the transform gets a 720×1280 picture lying on its side.
* ``small_faces.jpg``: a scaled-down crowd on a 1441×731 canvas (the size of a street photo): copies of
  faces.jpg (4 faces) shrunk to 0.9, 0.4, 0.25, 0.22, 0.2, 0.2, 0.18 and 0.16 of its size on a grey
  gradient, so its 32 faces are 7 to 81 pixels wide (OpenCV's FaceDetectorYN at full size finds 28, the
  smallest 10 pixels wide; at 640 pixels it finds 15, none under 20).

Needs pillow-heif (a dependency of visioncast).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
from PIL import Image

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SOFTWARE = 0x0131
ORIENTATION = 0x0112

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 5.1.0-jc003">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
    xmlns:Container="http://ns.google.com/photos/1.0/container/"
    xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
   GCamera:MotionPhoto="1"
   GCamera:MotionPhotoVersion="1"
   GCamera:MotionPhotoPresentationTimestampUs="0"
   GCamera:MicroVideo="1"
   GCamera:MicroVideoVersion="1"
   GCamera:MicroVideoOffset="{length}"
   GCamera:MicroVideoPresentationTimestampUs="0">
   <Container:Directory>
    <rdf:Seq>
     <rdf:li rdf:parseType="Resource">
      <Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/>
     </rdf:li>
     <rdf:li rdf:parseType="Resource">
      <Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{length}"
        Item:Padding="0"/>
     </rdf:li>
    </rdf:Seq>
   </Container:Directory>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""


def exif(orientation: int) -> bytes:
    data = Image.Exif()
    data[ORIENTATION] = orientation
    data[SOFTWARE] = "visioncast tools/make_test_photos.py"
    return data.tobytes()


def motion_photo() -> bytes:
    video = (DATA / "vtest_clip.mp4").read_bytes()
    buf = io.BytesIO()
    Image.open(DATA / "squat.jpg").save(buf, "JPEG", quality=90, exif=exif(1),
                                        xmp=XMP.format(length=len(video)).encode())
    return buf.getvalue() + video


def iphone_heic() -> bytes:
    sensor = Image.open(DATA / "zidane.jpg").convert("RGB").transpose(Image.Transpose.ROTATE_90)
    buf = io.BytesIO()
    sensor.save(buf, "HEIF", quality=45, exif=exif(6))  # pillow-heif turns orientation 6 into irot
    return buf.getvalue()


# (scale of faces.jpg, x, y) of each copy on the canvas
CROWD = ((0.9, 20, 391), (0.4, 520, 420), (0.18, 800, 120), (0.2, 950, 180), (0.22, 1100, 120),
         (0.16, 1250, 180), (0.2, 900, 450), (0.25, 1100, 450))


def small_faces() -> bytes:
    width, height = 1441, 731
    rows = np.linspace(0, 1, height)[:, None, None]
    canvas = (np.array([200, 190, 170]) * (1 - rows) + np.array([90, 95, 100]) * rows).astype(np.uint8)
    canvas = np.ascontiguousarray(canvas.repeat(width, axis=1))
    faces = cv2.imread(str(DATA / "faces.jpg"))
    for scale, x, y in CROWD:
        copy = cv2.resize(faces, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas[y:y + copy.shape[0], x:x + copy.shape[1]] = copy
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def main() -> None:
    pillow_heif.register_heif_opener()
    made = (("motion_photo.jpg", motion_photo()), ("zidane.heic", iphone_heic()),
            ("small_faces.jpg", small_faces()))
    for name, data in made:
        (DATA / name).write_bytes(data)
        print(f"wrote {DATA / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
