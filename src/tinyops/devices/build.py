"""Device builds: a model variant x a device profile -> a signed, reproducible bundle.

The build id is the first 16 hex digits of sha256 over the canonical build
*inputs* (variant bytes, model reference, the profile's facts, tinyops version,
bundle format, golden count), so building the same thing again returns the same
build — with its first ``created`` time — instead of a new one. Everything is
checked and generated before anything is stored: a build that fails leaves no
row behind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tinyops import __version__, signing
from tinyops.errors import DoesNotFitError, InputError
from tinyops.runtimes import tflite_file
from tinyops.registry import builds, models, variants
from tinyops.registry.refs import Ref
from tinyops.devices import (codegen, feature_build, fit, golden, keys, profiles, runtime_choice, tflm_build,
                             tflm_probe, tickets)
from tinyops import timestamps

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

FORMAT = "tinyops-build/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


@dataclass
class BuildResult:
    build: builds.Build
    created: bool
    manifest: dict[str, Any]
    fit: fit.FitReport
    key_created: bool = False
    public_key: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"build": self.build.id, "created": self.created, "model": self.build.model,
                "variant": self.build.variant, "profile": self.build.profile, "runtime": self.build.runtime,
                "files": self.build.files, "manifest_sha256": self.build.manifest_sha256,
                "arena_bytes": self.manifest.get("arena_bytes"), "public_key": self.public_key,
                "key_created": self.key_created, "fit": self.fit.to_dict(), "notes": self.notes,
                "created_at": self.build.created}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: UTF-8 JSON, keys sorted, 2-space indent."""
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def build_id(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _tensor(t: tflite_file.Tensor) -> dict[str, Any]:
    q = t.quantization
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype,
            "scale": q.scale[0] if q else None, "zero_point": q.zero_point[0] if q else None}


def _check_runnable(profile: profiles.Profile, v: variants.Variant, report: fit.FitReport) -> None:
    """Turn a failed fit into the most useful error: wrong quantization, then missing ops, then sizes."""
    if not report.quantization_supported:
        want = profile.quantizations[0]
        raise InputError(
            f"{v.ref} is a {v.quant} model; the {profile.runtime} runtime on {profile.id} runs "
            f"{'/'.join(profile.quantizations)} models only",
            hint=f"run `tinyops convert {v.model_ref} --quant {want}` and build {v.model_ref}:{want}")
    if report.unsupported_ops:
        raise DoesNotFitError(
            f"the {profile.runtime} runtime on {profile.id} lacks ops used by {v.ref}: {', '.join(report.unsupported_ops)}",
            hint="change the architecture to supported ops, or pick a profile with another runtime "
                 "(`tinyops device-profile list`)")
    if not report.fits:
        raise DoesNotFitError(f"{v.ref} does not fit {profile.id}: " + "; ".join(report.problems),
                              hint="make the model smaller (int8, fewer filters) or pick a bigger board")


def build(ws: Workspace, v: variants.Variant, profile_name: str, *, golden_count: int = golden.GOLDEN_COUNT,
          runtime: str = "auto") -> BuildResult:
    """Build (or find) the device build of variant ``ref`` for ``profile_name``; sign and register it.

    ``runtime``: auto (tinyops-c when it has every op, else TFLM), tinyops-c, tflm or tflm-cmsis-nn."""
    base = profiles.load(profile_name, ws.root)
    mv = models.resolve(ws, Ref(v.name, v.version))
    tflite = variants.blob_bytes(ws, v)
    profile = runtime_choice.with_runtime(base, runtime_choice.choose(base, tflite_file.read(tflite).op_names, runtime))
    fp = fit.footprint(ws, profile, tflite, v.quant, strict=True)
    report = fit.check_model(profile, tflite, arena_bytes=fp.arena_bytes, arena_source=fp.arena_source,
                             slot_bytes=fp.slot_bytes, quantization=v.quant, model=v.model_ref)
    _check_runnable(profile, v, report)

    inputs = {"format": FORMAT, "model": v.model_ref, "variant": v.quant, "variant_sha256": v.blob_sha256,
              "profile": profile.id, "profile_sha256": profile.content_hash(), "golden_count": golden_count,
              "tinyops_version": __version__,
              # a build made before the image compiler existed must not hide a later one with model.img
              "model_image": fp.image is not None}
    pipeline = feature_build.pipeline_key(ws, mv)
    if pipeline:  # the same variant with a changed feature definition or code is another build
        inputs["feature_pipeline"] = pipeline
    if tflm_probe.measures_on_target(profile):  # arena.h bisected on a Cortex-M4, not the host
        inputs["tflm_arena"] = "cortex-m4"
    if profile.runtime != base.runtime:
        inputs["runtime"] = profile.runtime
    if profile.is_mcu:  # the image carries its signed ticket (firmware key pinning and anti-rollback)
        inputs["image_ticket"] = 1
    bid = build_id(inputs)
    key = keys.ensure(ws)
    existing = builds.find(ws, bid)
    if existing is not None:
        manifest = json.loads(builds.file_bytes(ws, existing, MANIFEST))
        return BuildResult(existing, False, manifest, report, False, key["public_key"])

    files, manifest_extra, notes = _bundle_files(ws, profile, v, mv, tflite, fp, golden_count)
    if "model.img" in files:
        files[tickets.FILE] = tickets.make(keys.key_dir(ws), files["model.img"], v.name, v.version)
    model = tflite_file.read(tflite)
    manifest = {
        "format": FORMAT, "build": bid, "model": v.model_ref, "variant": v.quant, "profile": profile.id,
        "runtime": profile.runtime,
        # anti-rollback: devices refuse a lower version of the same model line unless a signed rollback allows it
        "model_line": v.name, "security_version": v.version,
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                  for name, data in sorted(files.items())},
        "arena_bytes": fp.tflm_arena_bytes, "ops": model.op_names,
        "inputs": [_tensor(t) for t in model.input_tensors], "outputs": [_tensor(t) for t in model.output_tensors],
        "tinyops_version": __version__, "created": timestamps.now(), "inputs_sha256": hashlib.sha256(
            json.dumps(inputs, sort_keys=True).encode()).hexdigest(),
        **manifest_extra,
    }
    mbytes = manifest_bytes(manifest)
    signature = signing.sign(keys.key_dir(ws), mbytes)
    stored = {name: ws.blobs.put_bytes(data) for name, data in files.items()}
    stored[MANIFEST] = ws.blobs.put_bytes(mbytes)
    stored[SIGNATURE] = ws.blobs.put_bytes(signature)
    row = builds.Build(id=bid, model=v.model_ref, variant=v.quant, variant_sha256=v.blob_sha256,
                       profile=profile.id, runtime=profile.runtime, manifest_sha256=stored[MANIFEST],
                       files=dict(sorted(stored.items())), created=manifest["created"])
    row, created = builds.register(ws, row)
    if not created:  # another process registered the same build first: report theirs
        manifest = json.loads(builds.file_bytes(ws, row, MANIFEST))
    return BuildResult(row, created, manifest, report, key["created"], key["public_key"], notes)


def _bundle_files(ws: Workspace, profile: profiles.Profile, v: variants.Variant, mv: models.ModelVersion,
                  tflite: bytes, fp: fit.Footprint,
                  golden_count: int) -> tuple[dict[str, bytes], dict[str, Any], list[str]]:
    files: dict[str, bytes] = {"model.tflite": tflite}
    extra: dict[str, Any] = {}
    pending_export = False
    notes: list[str] = []
    if profile.is_mcu:
        if fp.tflm_arena_bytes is None:
            raise DoesNotFitError(f"TFLite Micro cannot run {v.ref}, so there is no TFLM export for {profile.id}",
                                  hint="check `tinyops inspect` warnings; build an int8 variant")
        pending_export = True
    if profile.runtime == "tinyops-c":
        if fp.image is not None:
            files["model.img"] = bytes(fp.image)
            extra["image"] = {"file": "model.img", "arena_bytes": fp.arena_bytes}
        else:
            notes.append("the tinyops-c model image compiler is not available; the bundle has no model.img")

    rows = golden.training_rows(ws, mv)
    model = tflite_file.read(tflite)
    sample_shape = tuple(model.input_tensors[0].shape[1:])
    runtime_kind = "tflm" if profile.is_mcu else "litert"  # what the device's outputs must match
    xq, yq = golden.golden_vectors(rows["X_val"][:golden_count], tflite, runtime_kind)
    files["golden.npz"] = golden.npz_bytes({"inputs": xq, "outputs": yq})
    if pending_export:  # the arena is measured on the target with the golden inputs when TFLM is at hand
        kernels = "cmsisnn" if profile.runtime == "tflm-cmsis-nn" else "ref"
        export, measured_on = tflm_probe.export_measured(v.name, tflite, fp.tflm_arena_bytes, xq,
                                                         on_target=tflm_probe.measures_on_target(profile),
                                                         variant=kernels)
        files.update(export)
        arena = codegen.parse_arena_h(export["arena.h"].decode())
        extra["tflm_arena"] = {"bytes": arena, "measured_on": measured_on, "kernels": kernels}
        if profile.runtime.startswith("tflm"):  # the TFLM firmware's slot image: flatbuffer + its arena
            files["model.img"] = runtime_choice.tflm_image(tflite, arena)
            extra["image"] = {"file": "model.img", "arena_bytes": arena, "runtime": profile.runtime}
        if measured_on == "host" and profile.core.startswith("cortex-m"):
            notes.append(tflm_build.unavailable_note() + "; arena.h is the host measurement plus a margin")
    extra["golden"] = {"file": "golden.npz", "count": int(len(xq)), "runtime": runtime_kind,
                       "rows": f"{rows['spec']['dataset']}:{rows['part']}"}
    extra["baseline"] = golden.baseline(ws, rows["spec"], rows["X_train"], sample_shape)
    extra["labels"] = rows["labels"] or None
    feature_build.add_pipeline(ws, mv, profile, tflite, files, extra, golden_count, runtime_kind)
    return files, extra, notes
