"""Blender renderer on the ``bpy`` 5.0 package: Cycles, one render pass per image.

Each render writes one multi-part OpenEXR file on tmpfs (``/dev/shm`` where it exists) that
contains every requested pass, and reads it back with the OpenImageIO module shipped in the bpy
wheel. Blender 5 removed ``scene.node_tree`` and, in background mode, the Viewer node, so the
compositor is not used at all.

Coordinate conventions: +Z is up; the model's origin is the point that orientation controls
rotate about; the default camera looks at the model's bounding-box centre from the -Y side,
slightly above, at the distance where the bounding sphere just fits the frame.
"""

from __future__ import annotations

import atexit
import logging
import os
import tempfile
from typing import Any, Dict, List, Tuple

import numpy as np

from threedb.errors import DataError
from threedb.rendering.base_renderer import BaseRenderer, OutputDeclaration
from threedb.rendering.blender_support import (CAMERA_NAME, ENVIRONMENT_EXTENSIONS, MODEL_EXTENSIONS,
                                               OBJECT_PASS_INDEX, frame_distance, import_bpy, import_oiio,
                                               look_at, quiet_stdout, srgb_encode, world_bounding_box)

logger = logging.getLogger(__name__)

DEFAULT_VIEW_DIRECTION = (0.0, -1.0, 0.35)


def _list_files(directory: str, extensions: Tuple[str, ...], what: str) -> List[str]:
    if not os.path.isdir(directory):
        raise DataError(f"{what} folder not found: {directory} (it should contain the {what} files: "
                        f"{', '.join(extensions)})")
    names = sorted(f for f in os.listdir(directory)
                   if f.lower().endswith(extensions) and not f.startswith("."))
    if not names:
        raise DataError(f"no {what} files in {directory} (expected {', '.join(extensions)})")
    return names


def scratch_path(pid: int) -> str:
    """Return the EXR file that the renderer of process ``pid`` writes each render to."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    return os.path.join(shm, f"threedb-render-{pid}.exr")


def remove_scratch(pid: int) -> None:
    """Delete the EXR file of process ``pid``'s renderer, if any (also for a killed worker)."""
    try:
        os.remove(scratch_path(pid))
    except FileNotFoundError:
        pass


class BlenderRenderer(BaseRenderer):
    """Cycles renderer with one scene per worker process."""

    NAME = "blender"

    def __init__(self, root_dir: str, render_settings: Dict[str, Any], seed: int = 0) -> None:
        super().__init__(root_dir, render_settings)
        self.bpy = import_bpy()
        self.oiio = import_oiio()
        self.seed = seed
        self.scene: Any = None
        self.object: Any = None
        self.camera: Any = None
        self.loaded: Tuple[str, str] | None = None
        # Cycles' device preferences are global to the process, so the device is chosen once.
        self.device = self._choose_device(bool(render_settings.get("use_gpu")))
        self.exr_path = scratch_path(os.getpid())
        atexit.register(remove_scratch, os.getpid())

    # -- data folder -------------------------------------------------------------------------

    @staticmethod
    def enumerate_models(search_dir: str) -> List[str]:
        return _list_files(os.path.join(search_dir, "blender_models"), MODEL_EXTENSIONS, "model")

    @staticmethod
    def enumerate_environments(search_dir: str) -> List[str]:
        return _list_files(os.path.join(search_dir, "blender_environments"), ENVIRONMENT_EXTENSIONS, "environment")

    @staticmethod
    def declare_outputs(render_settings: Dict[str, Any]) -> OutputDeclaration:
        width, height = render_settings["resolution"]
        outputs: OutputDeclaration = {"rgb": ([3, height, width], "float32")}
        if render_settings.get("with_segmentation"):
            outputs["segmentation"] = ([height, width], "int32")
        if render_settings.get("with_depth"):
            outputs["depth"] = ([height, width], "float32")
        if render_settings.get("with_uv"):
            outputs["uv"] = ([2, height, width], "float32")
        return outputs

    def get_model_uid(self, model: str) -> str:
        return os.path.splitext(os.path.basename(model))[0]

    # -- scene loading -----------------------------------------------------------------------

    def setup_render(self, model: str, env: str) -> None:
        bpy = self.bpy
        env_path = os.path.join(self.root_dir, "blender_environments", env)
        model_path = os.path.join(self.root_dir, "blender_models", model)
        for path, what in ((env_path, "environment"), (model_path, "model")):
            if not os.path.isfile(path):
                raise DataError(f"{what} file not found: {path}")
            if os.path.getsize(path) == 0:
                raise DataError(f"{what} file is empty: {path}")

        hdri = not env_path.lower().endswith(".blend")
        if self.loaded is not None and self.loaded[0] == env and hdri:
            self._swap_model(model_path)
            self.loaded = (env, model)
            logger.debug("swapped in model %s, kept environment %s", model, env)
            return

        self.loaded = None
        with quiet_stdout():
            if not hdri:
                bpy.ops.wm.open_mainfile(filepath=env_path, load_ui=False)
            else:
                bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.context.scene
        if hdri:
            self.load_env(env_path)
        self.object = self.load_model(model_path)
        model_meshes = set(self.model_objects())
        for obj in self.scene.objects:
            # Segmentation marks the model by its pass index, so other objects of an environment
            # scene must not carry the same index.
            if obj not in model_meshes:
                obj.pass_index = 0
        self.camera = self._ensure_camera()
        self._configure_render()
        self.frame_camera(DEFAULT_VIEW_DIRECTION, 1.0)
        self.loaded = (env, model)
        logger.debug("loaded environment %s and model %s", env, model)

    def _swap_model(self, model_path: str) -> None:
        """Replace the model and keep the rest of the scene (world, camera, render settings).

        A full reload resets Blender, so Cycles rebuilds its whole scene on the next render
        (about 0.7 s at any resolution on a 2-core CPU). After a swap, Cycles updates its
        persistent data for the new mesh only (about 20 ms). The pixels are the same as after
        a full reload. ``loaded`` stays None until the new model is in, so a model that fails
        to load makes the next call reset the scene.
        """
        bpy = self.bpy
        self.loaded = None
        objects = [self.object] + list(self.object.children_recursive)
        meshes = {o.data for o in objects if o.type == "MESH"}
        materials = {slot.material for o in objects for slot in o.material_slots if slot.material is not None}
        images = {node.image for material in materials if material.node_tree is not None
                  for node in material.node_tree.nodes if node.type == "TEX_IMAGE" and node.image is not None}
        bpy.data.batch_remove(objects)
        # Remove each data block only if nothing else uses it, so data shared with the scene stays.
        for blocks in (meshes, materials, images):
            bpy.data.batch_remove([block for block in blocks if block.users == 0])
        self.object = self.load_model(model_path)
        self.frame_camera(DEFAULT_VIEW_DIRECTION, 1.0)

    def load_env(self, env: str) -> Any:
        """Make the HDRI ``env`` the world lighting and background."""
        bpy = self.bpy
        try:
            image = bpy.data.images.load(env, check_existing=True)
        except RuntimeError as error:
            raise DataError(f"environment could not be loaded: {env}: {error}") from None
        if image.size[0] == 0 or image.size[1] == 0:
            raise DataError(f"environment image is empty or corrupt: {env}")
        world = bpy.data.worlds.new("threedb_world")
        self.scene.world = world
        tree = world.node_tree
        if tree is None:
            world.use_nodes = True
            tree = world.node_tree
        background = next((n for n in tree.nodes if n.type == "BACKGROUND"), None)
        if background is None:
            background = tree.nodes.new("ShaderNodeBackground")
            output = next((n for n in tree.nodes if n.type == "OUTPUT_WORLD"), None) or \
                tree.nodes.new("ShaderNodeOutputWorld")
            tree.links.new(background.outputs[0], output.inputs[0])
        texture = tree.nodes.new("ShaderNodeTexEnvironment")
        texture.image = image
        tree.links.new(texture.outputs["Color"], background.inputs["Color"])
        return world

    def load_model(self, model: str) -> Any:
        """Load the one object of a model file into the scene and return it."""
        bpy = self.bpy
        extension = os.path.splitext(model)[1].lower()
        before = set(bpy.data.objects)
        try:
            with quiet_stdout():
                if extension == ".blend":
                    with bpy.data.libraries.load(model, link=False) as (source, target):
                        target.objects = list(source.objects)
                    for obj in target.objects:
                        if obj is not None and obj.type in ("MESH", "EMPTY"):
                            self.scene.collection.objects.link(obj)
                    # Cameras, lights and other objects of the model file stay out of the scene.
                    # Removing them means that swapping models leaves nothing behind.
                    bpy.data.batch_remove([o for o in target.objects if o is not None and o.users == 0])
                elif extension == ".obj":
                    bpy.ops.wm.obj_import(filepath=model)
                elif extension in (".glb", ".gltf"):
                    bpy.ops.import_scene.gltf(filepath=model)
                elif extension == ".ply":
                    bpy.ops.wm.ply_import(filepath=model)
                elif extension == ".stl":
                    bpy.ops.wm.stl_import(filepath=model)
        except (RuntimeError, OSError) as error:
            raise DataError(f"model could not be loaded: {model}: {error}") from None

        added = [o for o in bpy.data.objects if o not in before and o.name in self.scene.objects]
        meshes = [o for o in added if o.type == "MESH"]
        if not meshes:
            raise DataError(f"model file contains no mesh object: {model}")
        obj = self._single_object(meshes, added)
        for mesh_object in meshes:
            mesh_object.pass_index = OBJECT_PASS_INDEX
        return obj

    def _single_object(self, meshes: List[Any], added: List[Any]) -> Any:
        """Return the model's root object, joining several meshes into one when needed."""
        bpy = self.bpy
        roots = [o for o in added if o.parent is None]
        if len(roots) == 1:
            return roots[0]
        with bpy.context.temp_override(active_object=meshes[0], selected_editable_objects=meshes,
                                       selected_objects=meshes):
            bpy.ops.object.join()
        return meshes[0]

    def _ensure_camera(self) -> Any:
        bpy = self.bpy
        camera = self.scene.camera
        if camera is None:
            camera = bpy.data.objects.get(CAMERA_NAME)
        if camera is None or camera.type != "CAMERA":
            data = bpy.data.cameras.new(CAMERA_NAME)
            camera = bpy.data.objects.new(CAMERA_NAME, data)
            self.scene.collection.objects.link(camera)
        camera.name = CAMERA_NAME
        self.scene.camera = camera
        camera.data.clip_start = 0.001
        camera.data.clip_end = 10000.0
        return camera

    def _configure_render(self) -> None:
        scene = self.scene
        args = self.args
        width, height = args["resolution"]
        render = scene.render
        render.engine = "CYCLES"
        render.resolution_x = width
        render.resolution_y = height
        render.resolution_percentage = 100
        render.film_transparent = True
        render.use_compositing = False
        render.use_sequencer = False
        render.use_persistent_data = bool(args.get("persistent_data", True))
        if args.get("threads"):
            render.threads_mode = "FIXED"
            render.threads = int(args["threads"])
        render.image_settings.media_type = "MULTI_LAYER_IMAGE"
        render.image_settings.color_depth = "32"
        render.image_settings.exr_codec = "NONE"
        render.filepath = self.exr_path

        cycles = scene.cycles
        cycles.samples = int(args["samples"])
        cycles.use_denoising = False
        cycles.seed = self.seed
        cycles.device = self.device

        layer = scene.view_layers[0]
        layer.use_pass_combined = True
        layer.use_pass_environment = True
        layer.use_pass_z = bool(args.get("with_depth"))
        layer.use_pass_object_index = bool(args.get("with_segmentation"))
        layer.use_pass_uv = bool(args.get("with_uv"))

    def _choose_device(self, use_gpu: bool) -> str:
        if not use_gpu:
            return "CPU"
        bpy = self.bpy
        preferences = bpy.context.preferences.addons["cycles"].preferences
        for backend in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
            try:
                preferences.compute_device_type = backend
            except TypeError:
                continue
            preferences.get_devices()
            gpus = [d for d in preferences.devices if d.type == backend]
            if gpus:
                for device in preferences.devices:
                    device.use = device.type == backend
                logger.info("rendering on %s: %s", backend, ", ".join(d.name for d in gpus))
                return "GPU"
        logger.warning("use_gpu is set but Blender found no GPU; rendering on the CPU")
        return "CPU"

    # -- per-job -----------------------------------------------------------------------------

    def frame_camera(self, direction: Tuple[float, float, float], zoom_factor: float) -> None:
        """Place the camera along ``direction`` from the object's centre so that the object's
        bounding sphere just fits the frame at ``zoom_factor`` 1 (larger factors come closer)."""
        import mathutils  # noqa: PLC0415

        self.bpy.context.view_layer.update()
        low, high = world_bounding_box(self.model_objects())
        centre = (low + high) / 2
        radius = float(np.linalg.norm(high - low) / 2) or 1.0
        vector = mathutils.Vector(direction)
        if vector.length < 1e-9:
            vector = mathutils.Vector(DEFAULT_VIEW_DIRECTION)
        vector.normalize()
        distance = frame_distance(radius, self.camera.data, tuple(self.args["resolution"]), zoom_factor)
        self.camera.location = mathutils.Vector(tuple(centre)) + vector * distance
        look_at(self.camera, tuple(centre))
        self.camera.data.clip_end = max(10000.0, distance * 10)

    def model_objects(self) -> List[Any]:
        """Return the model's mesh objects (its root and mesh descendants)."""
        objects = [self.object] + list(self.object.children_recursive)
        return [o for o in objects if o.type == "MESH"] or [self.object]

    def get_context_dict(self, model_uid: str, object_class: int) -> Dict[str, Any]:
        return {
            "object": self.object,
            "camera": self.camera,
            "scene": self.scene,
            "root_folder": self.root_dir,
            "model_uid": model_uid,
            "object_class": object_class,
            "renderer": self,
        }

    def render(self, model_uid: str, loaded_model: Any = None, loaded_env: Any = None,
               job_seed: int | None = None) -> Dict[str, np.ndarray]:
        """Render once and return float32 ``rgba`` (4, H, W) in display space plus requested channels.

        ``rgba`` channels 0-2 hold the object composited over the environment, channel 3 the
        coverage alpha. ``segmentation`` (H, W) int32 is 1 on the model and 0 elsewhere: on the
        environment, occluders and other objects. It has no blended values at edges, and the
        worker maps it to class labels. ``depth`` (H, W) float32 is the distance from the camera plane
        along the view axis in scene units, ``max_depth`` where nothing nearer is hit.
        Segmentation and depth come from each pixel's first sample, because Cycles writes those
        passes on sample 0 only (``intern/cycles/kernel/film/data_passes.h``). ``uv``
        (2, H, W) float32 is the mean UV of the samples that hit geometry, 0 where none did and
        on meshes without a UV map.
        """
        # NOTE: with persistent data (the default, several times faster here) Cycles 5.0 ignores
        # seed changes after the first render, so every job of a worker uses the run's seed.
        # Images stay deterministic: the same job gives the same pixels on any worker.
        if job_seed is not None and not self.args.get("persistent_data", True):
            self.scene.cycles.seed = int(job_seed) % (2 ** 31)
        with quiet_stdout():
            self.bpy.ops.render.render(write_still=True)
        layers = self._read_exr()

        combined = layers["Combined"]
        environment = layers.get("Env", np.zeros_like(combined[..., :3]))
        alpha = combined[..., 3:4]
        composited = combined[..., :3] + environment[..., :3]
        rgba = np.concatenate([srgb_encode(composited), np.clip(alpha, 0.0, 1.0)], axis=-1)
        outputs: Dict[str, np.ndarray] = {"rgba": np.ascontiguousarray(rgba.transpose(2, 0, 1))}

        if self.args.get("with_segmentation"):
            index = layers["IndexOB"][..., 0]
            outputs["segmentation"] = (np.rint(index) == OBJECT_PASS_INDEX).astype(np.int32)
        if self.args.get("with_depth"):
            depth = layers["Depth"][..., 0]
            max_depth = float(self.args["max_depth"])
            outputs["depth"] = np.where(np.isfinite(depth) & (depth < max_depth), depth, max_depth).astype(np.float32)
        if self.args.get("with_uv"):
            outputs["uv"] = _mean_uv(layers["UV"])
        return outputs

    def _read_exr(self) -> Dict[str, np.ndarray]:
        """Read every part of the multi-part EXR into ``{pass name: (H, W, C) float32}``.

        Channel names look like ``ViewLayer.Combined.R``; Blender 5.0 writes one EXR part per
        pass, so every subimage is read.
        """
        oiio = self.oiio
        handle = oiio.ImageInput.open(self.exr_path)
        if handle is None:
            raise RuntimeError(f"render output could not be read: {self.exr_path}: {oiio.geterror()}")
        layers: Dict[str, np.ndarray] = {}
        try:
            subimage = 0
            while handle.seek_subimage(subimage, 0):
                spec = handle.spec()
                pixels = handle.read_image(subimage, 0, 0, spec.nchannels, "float")
                names = list(spec.channelnames)
                groups: Dict[str, List[Tuple[str, int]]] = {}
                for channel, name in enumerate(names):
                    parts = name.split(".")
                    pass_name = parts[-2] if len(parts) >= 2 else name
                    groups.setdefault(pass_name, []).append((parts[-1], channel))
                for pass_name, channels in groups.items():
                    order = _channel_order(pass_name, [c for c, _ in channels])
                    indices = [dict(channels)[c] for c in order]
                    layers[_pass_key(pass_name)] = np.asarray(pixels[..., indices], dtype=np.float32)
                subimage += 1
        finally:
            handle.close()
        return layers


def _mean_uv(uv_pass: np.ndarray) -> np.ndarray:
    """Return (2, H, W) mean UV from Cycles' UV pass. The pass sums UV over the samples that hit
    geometry and stores the fraction of such samples in its third channel."""
    coverage = uv_pass[..., 2:3]
    mean = np.divide(uv_pass[..., :2], coverage, out=np.zeros_like(uv_pass[..., :2]), where=coverage > 0)
    return np.ascontiguousarray(mean.transpose(2, 0, 1)).astype(np.float32)


def _pass_key(pass_name: str) -> str:
    return {"Object Index": "IndexOB", "Environment": "Env", "Z": "Depth"}.get(pass_name, pass_name)


def _channel_order(pass_name: str, channels: List[str]) -> List[str]:
    preferred = {"Combined": "RGBA", "UV": "UVA"}.get(pass_name, "RGBAXYZUV")
    return sorted(channels, key=lambda c: preferred.index(c) if c in preferred else 99)


Renderer = BlenderRenderer
