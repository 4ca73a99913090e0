"""The model registry: shipped defaults, pulled models in the cache, and any local ONNX path.

I/O: reads model files and the cache index. ``load_model`` turns a name or a path into a ready task (Detector,
Classifier, pose or face; ``people-pose``, the default pose model, and taught pose classifiers run on every
person YOLOX-nano finds: tasks/people.py), choosing the labels (explicit file → a labels/YAML file next to a
local model → model metadata → built-in set) and the preprocessing.

The task of a local file is read from it (:func:`guess_task`): metadata ``task`` (Ultralytics exports),
YuNet's twelve outputs (face), MoveNet's [1, 1, 17, 3] or the Ultralytics pose layout (pose), one [N, classes]
output (classify), else detect.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from visioncast.atomic import write_atomic
from visioncast.config import ModelsConfig
from visioncast.errors import InputError, ModelError, NotFoundError
from visioncast.models.choice import Candidate, choose
from visioncast.models.labels import BUILTIN, parse_names, read_labels_file, sibling_labels_file
from visioncast.runtimes import fold_image_input, open_runtime
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Task, TaskOptions
from visioncast.tasks.classify import Classifier, ClassifySpec
from visioncast.tasks.detect import Decoder, Detector
from visioncast.tasks.face import MAX_SIDE as FACE_MAX_SIDE
from visioncast.tasks.face import STREAM_SIDE as FACE_STREAM_SIDE
from visioncast.tasks.face import YuNetFace, is_yunet
from visioncast.tasks.family import class_count, describe_io, make_decoder
from visioncast.tasks.people import PeopleClassifier, TopDownPose
from visioncast.tasks.pose import MoveNetPose
from visioncast.tasks.segment import SemanticSegmenter
from visioncast.tasks.ultralytics_classify import UltralyticsClassifier, is_ultralytics_classify
from visioncast.tasks.yolo_pose import UltralyticsPose, is_ultralytics_pose
from visioncast.tasks.yolo_segment import UltralyticsSegmenter, is_ultralytics_segment, segment_decoder

log = logging.getLogger(__name__)
DATA = resources.files("visioncast") / "models" / "data"
DEFAULT_DETECT = "yolox-nano"
DEFAULT_CLASSIFY = "resnet56-cifar10"
DEFAULT_POSE = "people-pose"
TOP_DOWN = "top-down"  # the family of a pose model run on every person the default detector finds
DEFAULT_TOP = 5
DEFAULT_FACE = "yunet"
DEFAULT_SEGMENT = "selfie-segmentation"
DEFAULTS = {"detect": DEFAULT_DETECT, "classify": DEFAULT_CLASSIFY, "pose": DEFAULT_POSE,
            "face": DEFAULT_FACE, "segment": DEFAULT_SEGMENT}
TASK_NAMES = ("detect", "classify", "pose", "face", "segment")
AUTO = "auto"  # the engine value that measures and picks (models/choice.py)
INDEX_NAME = "index.json"
_NAME = re.compile(r"[^\W_][\w.-]{0,63}")


@dataclass(frozen=True)
class ModelInfo:
    """A model visioncast knows by name. ``path`` is absolute; ``labels`` names a built-in set or a file."""

    name: str
    task: str
    path: Path
    family: str | None = None
    labels: str | None = None
    licence: str = "unknown"
    origin: str = "local"
    spec: ClassifySpec | None = None

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0


def shipped_models() -> tuple[ModelInfo, ...]:
    """The models inside the package (permissive licences; texts in models/data/LICENSE-*)."""
    base = Path(str(DATA))
    return (
        ModelInfo("yolox-nano", "detect", base / "yolox_nano_416_coco.onnx", "yolox", "coco80",
                  "Apache-2.0", "shipped"),
        ModelInfo("resnet56-cifar10", "classify", base / "resnet56_cifar10.onnx", None, "cifar10",
                  "BSD-2-Clause", "shipped", ClassifySpec((32, 32))),
        ModelInfo("mobilenet-v2", "classify", base / "mobilenet_v2_1.0_224_quant_imagenet.onnx", None,
                  str(base / "imagenet_labels.txt"), "Apache-2.0", "shipped"),
        ModelInfo("people-pose", "pose", base / "movenet_singlepose_lightning_192.onnx", TOP_DOWN, None,
                  "Apache-2.0", "shipped"),
        ModelInfo("movenet-lightning", "pose", base / "movenet_singlepose_lightning_192.onnx", "movenet",
                  None, "Apache-2.0", "shipped"),
        ModelInfo("yunet", "face", base / "face_detection_yunet_2026may.onnx", "yunet", None, "MIT",
                  "shipped"),
        ModelInfo("selfie-segmentation", "segment", base / "selfie_segmentation_256.onnx", "semantic",
                  "selfie", "Apache-2.0", "shipped"),
    )


def cached_models(cache_dir: Path | None) -> tuple[ModelInfo, ...]:
    """Models pulled into ``cache_dir`` (listed in its index.json)."""
    if cache_dir is None or not (cache_dir / INDEX_NAME).is_file():
        return ()
    try:
        index = json.loads((cache_dir / INDEX_NAME).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelError(f"model cache index '{cache_dir / INDEX_NAME}' is not valid JSON: {exc}") from exc
    return tuple(
        ModelInfo(name, entry.get("task", "detect"), cache_dir / entry["file"], entry.get("family"),
                  entry.get("labels"), entry.get("licence", "unknown"), entry.get("origin", "pulled"))
        for name, entry in sorted(index.items())
    )


def check_model_name(name: str, cache_dir: Path | None = None) -> str:
    """``name`` when it can name a new model in the cache (letters of any script, digits, ``._-``, up to 64,
    not a shipped model's name); InputError saying what is wrong otherwise."""
    if not _NAME.fullmatch(name):
        raise InputError(f"model name must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter "
                         f"or digit), got {name!r}")
    if any(info.name == name for info in shipped_models()):
        raise InputError(f"model name {name!r} is a shipped model's; choose another")
    return name


def register_model(cache_dir: Path, name: str, entry: dict[str, Any]) -> None:
    """Add or replace ``name`` in the cache index (``{name: {"file", "task", …}}``), atomically."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    index_path = cache_dir / INDEX_NAME
    index: dict[str, Any] = {}
    if index_path.is_file():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelError(f"model cache index '{index_path}' is not valid JSON: {exc}") from exc
    index[name] = entry
    write_atomic(index_path, json.dumps(index, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8"))


def list_models(cache_dir: Path | None = None) -> tuple[ModelInfo, ...]:
    return shipped_models() + cached_models(cache_dir)


def find_model(ref: str | Path, cache_dir: Path | None = None) -> ModelInfo:
    """A known model by name, or a local ONNX file by path; NotFoundError listing the known names."""
    for info in list_models(cache_dir):
        if info.name == str(ref):
            return info
    path = Path(ref).expanduser()
    if path.suffix.lower() == ".onnx" or path.exists():
        if not path.is_file():
            raise NotFoundError(f"model file not found: '{path}'")
        return ModelInfo(path.stem, "", path.resolve())
    names = ", ".join(i.name for i in list_models(cache_dir))
    raise NotFoundError(f"unknown model {str(ref)!r}: expected one of {names} or a path to an .onnx file")


def guess_task(runtime: Runtime) -> str:
    """The task of a model file, read from its metadata and layout (see the module docstring)."""
    meta_task = runtime.metadata.get("task", "")
    if is_ultralytics_segment(runtime):
        return "segment"
    if meta_task in TASK_NAMES:
        return meta_task
    outs = runtime.outputs
    if is_yunet(runtime):
        return "face"
    if is_ultralytics_pose(runtime) or (len(outs) == 1 and outs[0].shape[-2:] == (17, 3)):
        return "pose"
    return "classify" if len(outs) == 1 and len(outs[0].shape) == 2 else "detect"


def classify_spec_from(runtime: Runtime) -> ClassifySpec:
    """Preprocessing of an unknown classifier from its input tensor and metadata (mean, std, color_order)."""
    spec = runtime.inputs[0]
    nhwc = spec.shape[-1] == 3
    h, w = (spec.static_dim(1), spec.static_dim(2)) if nhwc else (spec.static_dim(2), spec.static_dim(3))
    meta = runtime.metadata
    out = ClassifySpec((w or 224, h or 224), nhwc=nhwc, dtype=spec.dtype)
    if spec.dtype == "uint8":
        out = replace(out, mean=None, std=None)
    if "mean" in meta and "std" in meta:
        out = replace(out, mean=tuple(json.loads(meta["mean"])), std=tuple(json.loads(meta["std"])))
    if meta.get("color_order", "").lower() == "bgr":
        out = replace(out, rgb=False)
    if meta.get("visioncast_resize") == "pad":  # a taught pose classifier: keep the skeleton's proportions
        out = replace(out, pad_square=True)
    return out


def resolve_labels(
    info: ModelInfo, runtime: Runtime, task: str, labels: str | Path | None
) -> tuple[str, ...]:
    """Explicit labels (file or built-in name) → a labels file next to a local model → metadata ``names`` →
    the model's set → the task's (COCO-80, CIFAR-10, person, face)."""
    if task in ("pose", "face") and not labels and "names" not in runtime.metadata:
        return ("person",) if task == "pose" else ("face",)
    if labels is None and info.origin == "local":
        labels = sibling_labels_file(info.path)
    choice = labels or (None if "names" in runtime.metadata else info.labels)
    if choice is None and "names" in runtime.metadata:
        return parse_names(runtime.metadata["names"])
    if choice is None:
        choice = "coco80" if task == "detect" else "cifar10"
    if str(choice) in BUILTIN:
        return BUILTIN[str(choice)]
    return read_labels_file(choice)


def load_model(
    ref: str | Path,
    *,
    task: str | None = None,
    engine: str = "onnxruntime",
    device: str = "CPU",
    precision: str = "f32",
    threads: int | None = None,
    family: str | None = None,
    labels: str | Path | None = None,
    cache_dir: Path | None = None,
    options: Mapping[str, TaskOptions] | None = None,
    opener: Callable[[ModelInfo], Runtime] | None = None,
    face_sides: tuple[int, int] = (FACE_MAX_SIDE, FACE_STREAM_SIDE),
    dequantize: bool = False,
) -> Task:
    """A ready task for a model name or ONNX path: Detector, Classifier, pose (MoveNet, Ultralytics), face.
    ``options`` maps a task kind to defaults over that task's own (``{"detect": TaskOptions(conf=0.4)}``:
    a detector's thresholds; the other kinds keep theirs); ``opener`` (e.g. a Ray Serve deployment's
    adapter) replaces the local engine: it gets the model and answers its Runtime. ``face_sides``: a face
    model's (still, stream) sizes, ``models.face_max_side`` and ``models.face_size``. ``engine="auto"``: the
    engine, precision and weights measured fastest for this file on this machine among those that agree with
    the f32 reference (models/choice.py; stored in ``cache_dir``). ``dequantize``: run a dynamically
    int8-quantised file's convolutions on float weights."""
    info = find_model(ref, cache_dir)
    if engine == AUTO and opener is None:
        return _load_auto(info, ref, task=task, device=device, threads=threads, family=family, labels=labels,
                          cache_dir=cache_dir, options=options, face_sides=face_sides)

    def open_info(info: ModelInfo) -> Runtime:
        if opener is not None:
            return opener(info)
        return open_runtime(info.path, engine, device=device, precision=precision, threads=threads,
                            dequantize=dequantize)

    runtime = open_info(info)
    actual = info.task or guess_task(runtime)
    if task == "detect" and actual == "segment" and is_ultralytics_segment(runtime):
        actual = "detect"  # a segmentation export asked for boxes only
    known = info.task or runtime.metadata.get("task") in TASK_NAMES or actual == "face"
    if task and task != actual and known:
        raise ModelError(f"model {info.name!r} is a {actual} model, not {task}")
    actual = task or actual
    names = resolve_labels(info, runtime, actual, labels)
    if actual == "face":
        return _face(runtime, info.name, (options or {}).get(actual), face_sides)
    if actual == "pose" and info.family == TOP_DOWN:
        return TopDownPose(_people_detector(open_info), MoveNetPose(runtime, name=info.name), name=info.name,
                           options=(options or {}).get(actual))
    if actual == "classify" and runtime.metadata.get("visioncast_kind") == "pose":  # taught: on every person
        classifier = Classifier(runtime, info.spec or classify_spec_from(runtime), names, name=info.name)
        return PeopleClassifier(_people_detector(open_info), classifier)
    return _build(actual, info, runtime, names, family=family, labels=labels,
                  options=(options or {}).get(actual))


def people_detector(*, threads: int | None = None) -> Detector:
    """The person detector of the tasks on every person, on onnxruntime (the extractor of taught pose
    models)."""
    return _people_detector(lambda info: open_runtime(info.path, threads=threads))


def _people_detector(open_info: Callable[[ModelInfo], Runtime]) -> Detector:
    """The shipped YOLOX-nano, the person detector of the tasks on every person (tasks/people.py)."""
    info = find_model(DEFAULT_DETECT)
    runtime = open_info(info)
    return Detector(runtime, make_decoder(runtime, info.family), BUILTIN["coco80"], name=info.name)


def load_configured(cfg: ModelsConfig, ref: str | Path | None = None, *, task: str | None = None,
                    opener: Callable[[ModelInfo], Runtime] | None = None) -> Task:
    """:func:`load_model` with the models section's engine, labels, cache and detector thresholds; ``ref``
    None = the section's model for ``task`` (detect, classify) or the registry's default (pose, face)."""
    configured = {"detect": cfg.detect, "classify": cfg.classify}
    name = ref or configured.get(task or "detect") or DEFAULTS[task or "detect"]
    return load_model(
        name, task=task, engine=cfg.engine, device=cfg.device, precision=cfg.precision,
        threads=cfg.threads or None, family=cfg.family or None, labels=cfg.labels or None,
        cache_dir=Path(cfg.cache_dir), opener=opener, face_sides=(cfg.face_max_side, cfg.face_size),
        options={"detect": TaskOptions(conf=cfg.conf, iou=cfg.iou, max_det=cfg.max_det)})


def _build(task: str, info: ModelInfo, runtime: Runtime, names: tuple[str, ...], *, family: str | None,
           labels: str | Path | None, options: TaskOptions | None) -> Task:
    """The task object of kind ``task`` around an opened runtime."""
    if task == "classify":
        if len(runtime.outputs) != 1:
            raise ModelError(f"a classifier needs one output, got {describe_io(runtime)}")
        _check_label_count(labels, names, runtime.outputs[0].static_dim(-1), info.name)
        top = options.top if options and options.top else DEFAULT_TOP
        if info.spec is None and is_ultralytics_classify(runtime):
            return UltralyticsClassifier(runtime, names, name=info.name, top=top)
        return Classifier(runtime, info.spec or classify_spec_from(runtime), names, name=info.name, top=top)
    if task == "pose":
        return _pose(runtime, info.name, names, options)
    if task == "segment" and not is_ultralytics_segment(runtime):
        return SemanticSegmenter(runtime, names, name=info.name, options=options)
    if not family and is_ultralytics_segment(runtime):
        classes = len(names) if "names" in runtime.metadata else None
        boxes = segment_decoder(runtime, classes)
        kind = UltralyticsSegmenter if task == "segment" else Detector
        return kind(fold_decoder_input(runtime, boxes), boxes, names, name=info.name, options=options)
    decoder = make_decoder(runtime, family or info.family)
    _check_label_count(labels, names, class_count(runtime, decoder.family), info.name)
    return Detector(fold_decoder_input(runtime, decoder), decoder, names, name=info.name, options=options)


def _load_auto(info: ModelInfo, ref: str | Path, *, device: str, **kwargs: Any) -> Task:
    """``load_model`` with the engine ``choose`` finds (or found before) for this file here; a device other
    than the CPU is OpenVINO's."""
    if device.upper() != "CPU":
        return load_model(ref, engine="openvino", device=device, **kwargs)

    def build(cand: Candidate) -> Task:
        return load_model(ref, engine=cand.engine, precision=cand.precision, dequantize=cand.dequantize,
                          device=device, **kwargs)

    choice, model = choose(info.path, build, kwargs.get("cache_dir"))
    log.info("model %s runs on %s", info.name, choice.describe())
    return model


def fold_decoder_input(runtime: Runtime, decoder: Decoder) -> Runtime:
    """The runtime with ``decoder``'s image conversion folded into the model's graph (the decoder then feeds
    uint8 images; runtimes/prefix.py), where the decoder and the engine allow it; else ``runtime`` as it was.
    The same values reach the model either way; the fold saves 0.3–1 CPU-ms per image (docs/benchmarks.md)."""
    image_input = getattr(decoder, "image_input", None)
    folded = fold_image_input(runtime, image_input()) if image_input is not None else None
    if folded is None:
        return runtime
    runtime.close()
    decoder.folded = True  # type: ignore[attr-defined]
    return folded


def _check_label_count(choice: str | Path | None, names: tuple[str, ...], classes: int | None,
                       model: str) -> None:
    """Chosen labels must name exactly the model's classes (else a 10-label file relabels an 80-class
    detector); a dynamic output shape cannot be checked."""
    if choice is None or classes is None or len(names) == classes:
        return
    what = f"built-in labels '{choice}'" if str(choice) in BUILTIN else f"labels file '{choice}'"
    raise ModelError(f"{what} has {len(names)} labels but model {model!r} has {classes} classes; "
                     f"use a labels file with {classes} lines")


def _face(runtime: Runtime, name: str, options: TaskOptions | None, sides: tuple[int, int]) -> YuNetFace:
    if not is_yunet(runtime):
        raise ModelError(f"face models must have YuNet's outputs (cls/obj/bbox/kps per stride 8, 16, 32), "
                         f"got {describe_io(runtime)}")
    return YuNetFace(runtime, name=name, options=options, max_side=sides[0], stream_side=sides[1])


def _pose(runtime: Runtime, name: str, labels: tuple[str, ...],
          options: TaskOptions | None) -> MoveNetPose | UltralyticsPose:
    if is_ultralytics_pose(runtime):
        return UltralyticsPose(runtime, labels, name=name, options=options)
    if len(runtime.outputs) == 1 and runtime.outputs[0].shape[-2:] == (17, 3):
        return MoveNetPose(runtime, name=name, options=options)
    raise ModelError(f"pose models must be MoveNet ([1, 1, 17, 3]) or an Ultralytics pose export "
                     f"([1, 56, N]), got {describe_io(runtime)}")
