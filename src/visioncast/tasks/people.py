"""Tasks on every person of an image: top-down pose and a taught pose classifier per person. No I/O.

Both start from a person detector (the shipped YOLOX-nano; any :class:`~visioncast.tasks.detect.Detector`
with a ``person`` class): its people, each cut out as a square around its box (``person_crop``: the box's
longer side × 1.25, centred), and a second model on every crop.

* :class:`TopDownPose` — MoveNet on each person: each person keeps the detector's box and score and gets 17
  keypoints mapped back to image pixels. This is the default pose model (``people-pose``) for photos, pages,
  video jobs and streams; MoveNet alone (``movenet-lightning``) finds one person, and follows them from
  frame to frame in a stream (``for_stream``): the faster path.
* :class:`PeopleClassifier` — a taught pose classifier (``teach --kind pose``) on each person: the answer's
  classes are those of the biggest person (what a board reacts to; the whole image when nobody is found),
  and every person comes back as a detection labelled with its own top class, so ``Result.counts()`` is the
  number of people per label ("举手": 3).

Two models in a row run as one :class:`~visioncast.tasks.staged.StagedRuntime`: the detector's call first (on
its async queue in the pipeline), then the crops and the second model. The feeds carry, besides the
detector's input, the original image, the letterbox geometry and the people thresholds.
"""

from __future__ import annotations

import numpy as np

from visioncast.core.boxes import Letterbox
from visioncast.core.types import COCO_KEYPOINTS, Classification, Detections, Result
from visioncast.errors import ModelError
from visioncast.runtimes.base import TensorSpec
from visioncast.tasks.base import Prepared, TaskBase, TaskOptions
from visioncast.tasks.classify import Classifier, to_probabilities
from visioncast.tasks.detect import Detector, finish
from visioncast.tasks.pose import MoveNetPose, cut_square, person_crop
from visioncast.tasks.staged import StagedRuntime

IMAGE, GEOMETRY, THRESHOLDS = "visioncast:image", "visioncast:letterbox", "visioncast:people"
EXTRA_INPUTS = (TensorSpec(IMAGE, ("height", "width", 3), "uint8"), TensorSpec(GEOMETRY, (7,), "float32"),
                TensorSpec(THRESHOLDS, (3,), "float32"))
PEOPLE = TensorSpec("people", ("people", 5), "float32")  # x1, y1, x2, y2, score in image pixels
DEFAULT_OPTIONS = TaskOptions(conf=0.3, iou=0.45, max_det=50)  # people: score, NMS overlap, at most


def person_class(detector: Detector) -> int:
    """The detector's class id of ``person``; ModelError when it has none."""
    if "person" not in detector.labels:
        raise ModelError(f"a person detector needs a 'person' class; {detector.name!r} has none")
    return detector.labels.index("person")


class PeopleFinder:
    """The first stage shared by the tasks of this module: the detector's feeds for an image, and its
    people (boxes in image pixels, best first) from its outputs."""

    def __init__(self, detector: Detector) -> None:
        self.detector, self.person = detector, person_class(detector)

    def feeds(self, image: np.ndarray, options: TaskOptions) -> dict[str, np.ndarray]:
        prepared = self.detector.prepare(image)
        box: Letterbox = prepared.context
        geometry = (box.src_w, box.src_h, box.dst_w, box.dst_h, box.scale, box.pad_x, box.pad_y)
        opts = options.over(DEFAULT_OPTIONS)
        return {**prepared.feeds, IMAGE: image, GEOMETRY: np.array(geometry, np.float32),
                THRESHOLDS: np.array([opts.conf, opts.iou, opts.max_det], np.float32)}

    def find(self, image: np.ndarray, options: TaskOptions | None = None) -> Detections:
        """The people of one image, in one synchronous call (the extractor of taught pose models)."""
        feeds = self.feeds(image, options or DEFAULT_OPTIONS)
        head = {spec.name: feeds[spec.name] for spec in self.detector.runtime.inputs}
        return self.people(feeds, self.detector.runtime.run(head))

    def people(self, feeds: dict[str, np.ndarray], outputs: list[np.ndarray]) -> Detections:
        g = [float(v) for v in feeds[GEOMETRY]]
        box = Letterbox(round(g[0]), round(g[1]), round(g[2]), round(g[3]), g[4], g[5], g[6])
        conf, iou, max_det = (float(v) for v in feeds[THRESHOLDS])
        opts = TaskOptions(conf=conf, iou=iou, max_det=round(max_det), classes=(self.person,))
        return finish(self.detector.decoder.decode(outputs, box, conf), box, opts, self.detector.labels)


class TopDownPose(TaskBase):
    """Every person's pose: ``pose(image)`` → Result(task="pose"), each person with the detector's box and
    score and MoveNet's 17 keypoints (x, y, score) in image pixels. ``conf``/``iou``/``max_det`` are the
    people's: minimum detector score, NMS overlap, how many at most."""

    task = "pose"
    family = "top-down"
    labels: tuple[str, ...] = ("person",)

    def __init__(self, detector: Detector, movenet: MoveNetPose, *, name: str = "people-pose",
                 options: TaskOptions | None = None) -> None:
        self.finder, self.movenet, self.name = PeopleFinder(detector), movenet, name
        self.options = options.over(DEFAULT_OPTIONS) if options else DEFAULT_OPTIONS
        keypoints = TensorSpec("keypoints", ("people", len(COCO_KEYPOINTS), 3), "float32")
        self.runtime = StagedRuntime(detector.runtime, self._keypoints, extra_inputs=EXTRA_INPUTS,
                                     outputs=(PEOPLE, keypoints), owned=(movenet.runtime,))

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        opts = self.resolve(options)
        return Prepared(self.finder.feeds(image, opts), (image.shape[1], image.shape[0]), None, opts)

    def _keypoints(self, feeds: dict[str, np.ndarray], outputs: list[np.ndarray]) -> list[np.ndarray]:
        people = self.finder.people(feeds, outputs)
        keypoints = self.movenet.keypoints_in(feeds[IMAGE], [person_crop(b) for b in people.xyxy])
        return [np.concatenate([people.xyxy, people.score[:, None]], axis=1), keypoints]

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        w, h = prepared.image_wh
        people = np.asarray(outputs[0], np.float32).reshape(-1, 5)
        kps = np.asarray(outputs[1], np.float32).reshape(len(people), len(COCO_KEYPOINTS), 3).copy()
        kps[:, :, 0] = kps[:, :, 0].clip(0, w)
        kps[:, :, 1] = kps[:, :, 1].clip(0, h)
        dets = Detections(people[:, :4], np.zeros(len(people), np.int32), people[:, 4].clip(0, 1),
                          ("person",) * len(people), keypoints=kps if len(people) else None)
        return Result("pose", self.name, w, h, detections=dets)


def biggest(people: Detections) -> int | None:
    """The row of the person with the largest box, None when there is nobody."""
    if not len(people):
        return None
    sides = people.xyxy[:, 2:] - people.xyxy[:, :2]
    return int((sides[:, 0] * sides[:, 1]).argmax())


def biggest_square(image: np.ndarray, people: Detections, size: int) -> np.ndarray:
    """The biggest person's square (``person_crop``) at ``size``×``size``, or the whole image when nobody is
    there: what a taught pose classifier learns from (teach/extractor.py) and answers for."""
    row = biggest(people)
    return image if row is None else cut_square(image, person_crop(people.xyxy[row]), size)


class PeopleClassifier(TaskBase):
    """A taught pose classifier on every person (see the module docstring): ``top`` classes of the biggest
    person; ``conf``/``iou``/``max_det`` are the people's thresholds."""

    task = "classify"

    def __init__(self, detector: Detector, classifier: Classifier, *, name: str | None = None) -> None:
        self.finder, self.classifier = PeopleFinder(detector), classifier
        self.name, self.labels = name or classifier.name, classifier.labels
        self.options = classifier.options.over(DEFAULT_OPTIONS)
        self.size = max(classifier.spec.size_wh)
        probs = TensorSpec("probabilities", ("people", len(self.labels)), "float32")
        self.runtime = StagedRuntime(detector.runtime, self._classify, extra_inputs=EXTRA_INPUTS,
                                     outputs=(PEOPLE, probs), owned=(classifier.runtime,))

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        opts = self.resolve(options)
        return Prepared(self.finder.feeds(image, opts), (image.shape[1], image.shape[0]), None, opts)

    def _probabilities(self, image: np.ndarray) -> np.ndarray:
        raw = self.classifier.runtime.run({self.classifier.runtime.inputs[0].name:
                                           self.classifier.preprocess(image)})[0]
        return to_probabilities(np.asarray(raw).reshape(-1))

    def _classify(self, feeds: dict[str, np.ndarray], outputs: list[np.ndarray]) -> list[np.ndarray]:
        """[people (N, 5), probabilities (N, classes)]; with nobody, one row for the whole image."""
        image, people = feeds[IMAGE], self.finder.people(feeds, outputs)
        crops = [cut_square(image, person_crop(b), self.size) for b in people.xyxy] or [image]
        probs = np.stack([self._probabilities(crop) for crop in crops]).astype(np.float32)
        return [np.concatenate([people.xyxy, people.score[:, None]], axis=1), probs]

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        w, h = prepared.image_wh
        people = np.asarray(outputs[0], np.float32).reshape(-1, 5)
        probs = np.asarray(outputs[1], np.float32).reshape(-1, len(self.labels))
        boxes = Detections(people[:, :4], np.zeros(len(people), np.int32), people[:, 4].clip(0, 1),
                           ("person",) * len(people))
        row = biggest(boxes) or 0
        ids = np.argsort(-probs[row], kind="stable")[: min(prepared.options.top or 1, len(self.labels))]
        cls = Classification(ids, probs[row][ids], tuple(self.labels[i] for i in ids))
        best = probs[: len(people)].argmax(axis=1)
        dets = Detections(people[:, :4], best, probs[np.arange(len(people)), best].clip(0, 1),
                          tuple(self.labels[i] for i in best))
        return Result("classify", self.name, w, h, detections=dets, classification=cls)


