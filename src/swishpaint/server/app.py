"""`swishpaint serve`: a FastAPI app with a REST API and one self-contained page (no CDN, no build step).

Decoding runs in a thread pool and inference plus PNG encoding in one worker thread, all off the
event loop, behind one bounded queue that decoding counts against too (a request holds its slot from
its decode to its reply): when it is full the API answers 503 with Retry-After, and
/api/health stays responsive while the model works. The upload cap is enforced while the body
streams, so a chunked upload without Content-Length is cut off at the cap, not spooled first. Every
error is a JSON body {"error": ...} whose HTTP status follows from the exception's type; tracebacks
never reach clients.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import io
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException

from ..configs import INFERENCE_DEVICE
from ..data.images import (UPLOAD_MAX_PIXELS, ImageError, ImageTooLarge, NotRGBA, from_float_array, load_grey,
                           load_rgb, load_rgba, open_image, output_png_info, to_float_array)
from ..errors import InvalidArgument, SwishpaintError, os_reason
from ..inference.colorizer import Colorizer, check_candidates, check_line_threshold, check_output
from ..inference.layered import (LAYERED_TYPES, check_layered_size, check_layers, hidden_layers, label_map_bytes,
                                 label_map_rgb_bytes, layered_bytes, line_rows)
from ..inference.options import LINE_THRESHOLD_HELP

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


@dataclass
class ServerConfig:
    model: str | None = None  # model folder or name; None = the bundled demo model
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = UPLOAD_MAX_PIXELS
    queue_size: int = 4  # requests waiting or running before 503
    max_frames: int = 48  # frames in one /api/colorize-sequence request (the body cap still holds)
    max_sequence_pixels: int = 64_000_000  # all frames of one sequence request together: line art
    # compresses so well that the body cap alone would let 48 frames of 16 Mpx (GBs, minutes) through;
    # frames are held decoded in their own mode (coloured lines keep their colour): up to 4 bytes a pixel
    device: str = INFERENCE_DEVICE


class ApiError(SwishpaintError):
    """An error this API raises itself, with its HTTP status."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


# The HTTP status of each user-facing error type; the most specific class in the MRO wins.
STATUS_BY_TYPE: dict[type, int] = {
    ImageTooLarge: 413,
    NotRGBA: 422,
    ImageError: 415,
    InvalidArgument: 422,
    SwishpaintError: 422,
}


def status_of(exc: SwishpaintError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    return next(STATUS_BY_TYPE[cls] for cls in type(exc).__mro__ if cls in STATUS_BY_TYPE)


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: answer 413 once a request body passes `limit` bytes, counted as it streams.

    A Content-Length over the limit is refused before reading; a chunked body (no Content-Length)
    is read only up to the limit. Whatever the app answers to the cut-off stream is replaced.
    """

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await self._refuse(scope, receive, send)
        seen, over, started = 0, False, False

        async def counted_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message):
            nonlocal started
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        mb = self.limit / (1024 * 1024)
        await _error(413, f"upload too large: the request is over {mb:.0f} MB")(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _png_data_url(im: Image.Image) -> str:
    """An output as a PNG data URL, marked as swishpaint's output as the CLI marks its files: saved into
    a folder of sketches, it is not taken for a new sketch by a later batch run."""
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=output_png_info())
    return _data_url(buf.getvalue(), "image/png")


def _data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode()


def flat_palette(colours: np.ndarray, areas: np.ndarray, most: int = 24) -> list[str]:
    """The distinct flat colours as #rrggbb, the largest total area first: the page's palette."""
    hexes = ["#%02x%02x%02x" % tuple(c) for c in np.asarray(from_float_array(colours[None]))[0]]
    total: dict[str, int] = {}
    for colour, area in zip(hexes, areas.tolist()):
        total[colour] = total.get(colour, 0) + area
    return sorted(total, key=total.get, reverse=True)[:most]


async def _read_limited(upload: UploadFile, limit: int, what: str) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"{what} is larger than the {limit // (1024 * 1024)} MB upload limit")
    if not data:
        raise ApiError(415, f"{what} is empty")
    return data


def create_app(config: ServerConfig = ServerConfig(), colorizer: Colorizer | None = None) -> FastAPI:
    """The app; pass a Colorizer to serve a model already loaded (tests do)."""
    colorizer = colorizer or Colorizer.load(config.model, device=config.device)
    colorizer.max_pixels = config.max_pixels
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swishpaint-infer")
    slots = threading.BoundedSemaphore(config.queue_size)
    state = {"pending": 0}
    # docs_url=None: FastAPI's Swagger UI loads its scripts from a CDN; /docs is a local page instead
    app = FastAPI(title="swishpaint", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Colour anime line art: upload a sketch, optionally with RGBA colour hints.")

    @app.exception_handler(SwishpaintError)
    async def _user_error(request: Request, exc: SwishpaintError):
        return _error(status_of(exc), str(exc), getattr(exc, "headers", None))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):  # 404, 405, a malformed body
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        msgs = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"bad parameters: {msgs}"}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error")
        return JSONResponse({"error": "internal error; see the server log"}, status_code=500)

    # sketch + flats + shading (/api/layered) or sketch + hints, each within max_upload_bytes, + the form
    app.add_middleware(BodyLimit, limit=3 * config.max_upload_bytes + 65536)

    @app.get("/api/health")
    async def health() -> dict:
        return {"status": "ok", "pending": state["pending"], "queue_size": config.queue_size}

    @app.get("/api/models")
    async def models() -> dict:
        return {"models": [{"name": colorizer.name, "candidates": colorizer.candidates,
                            "takes_hints": colorizer.takes_hints, "working_size": colorizer.working_size}]}

    @contextlib.asynccontextmanager
    async def queue_slot():
        """A place in the bounded queue for one request, from its decode to its reply: 503 when it is full."""
        if not slots.acquire(blocking=False):
            raise ApiError(503, "busy: too many requests in the queue; try again shortly", {"Retry-After": "2"})
        state["pending"] += 1
        try:
            yield
        finally:
            state["pending"] -= 1
            slots.release()

    async def in_worker(work):
        """Run `work` on the one inference thread (inside the request's queue slot)."""
        return await asyncio.get_running_loop().run_in_executor(executor, work)

    @app.post("/api/colorize")
    async def colorize(sketch: UploadFile = File(..., description="the sketch: PNG, JPEG or WEBP"),
                       hints: UploadFile | None = File(None, description="RGBA PNG; alpha > 0 marks a hint"),
                       candidates: int = Form(1, ge=1, le=32, description=f"how many colourings to return: "
                                              f"this model makes {colorizer.candidates} (start + candidates "
                                              f"must not exceed that; 32 is the limit of any model)"),
                       start: int = Form(0, ge=0, le=31, description="rank of the first candidate returned (0 = "
                                         "best): the page's re-roll asks for the next one with the same hints"),
                       parts: bool = Form(False, description="also return each candidate's flats, shading and "
                                                             "palette (the web page composites its views)"),
                       keep_lines: bool = Form(True),
                       output: str = Form("final", description="final (flats + shading + lines), flat, network"),
                       layers: str | None = Form(None, description="psd or ora: also return the layered file "
                                                                   "of the first candidate returned"),
                       line_threshold: float | None = Form(None, description=LINE_THRESHOLD_HELP)) -> dict:
        if start and start + candidates > colorizer.candidates:  # before the uploads are read, as the checks below
            raise ApiError(422, f"start {start} + candidates {candidates} exceeds the model's "
                                f"{colorizer.candidates} candidates")
        check_candidates(candidates, colorizer.candidates)  # 422, as every InvalidArgument
        check_output(output)
        check_layers(layers, output)
        check_line_threshold(line_threshold, output, "line_threshold")  # 422
        # the server's colorizer's own threshold when the request sets none
        colouring_by = colorizer if line_threshold is None else colorizer.with_line_threshold(line_threshold)
        sketch_bytes = await _read_limited(sketch, config.max_upload_bytes, "sketch")
        hint_bytes = await _read_limited(hints, config.max_upload_bytes, "hints") if hints and hints.filename else None

        def decode():
            # in its own mode: colour-trace lines keep their colour in the output and the layered file
            drawing = open_image(sketch_bytes, config.max_pixels, name=sketch.filename or "sketch")
            hint_im = load_rgba(hint_bytes, config.max_pixels, name=hints.filename or "hints", require_alpha=True) \
                if hint_bytes else None
            return drawing, hint_im

        def work():
            notes: list[str] = []
            colouring = colouring_by.colorize_regions(drawing, hints=hint_im, candidates=start + candidates,
                                                      warnings=notes, regions=output != "network")
            seg = colouring.segmentation
            images, extra = [], {}
            if seg is not None:
                extra["labels"] = _data_url(label_map_bytes(seg.labels), "image/png")
                extra["labels_rgb"] = _data_url(label_map_rgb_bytes(seg.labels), "image/png")
                if parts:
                    extra.update(flats=[], shading=[], palettes=[])
            for k in range(start, start + candidates):  # encoded one candidate at a time
                flats = colouring.flats(k) if seg is not None and (parts or layers and k == start) else None
                images.append(_png_data_url(Image.fromarray(colouring.image(k, output, keep_lines, flats), "RGB")))
                if flats is not None and parts:
                    extra["flats"].append(_png_data_url(from_float_array(flats.image)))
                    extra["shading"].append(_png_data_url(from_float_array(flats.shading)))
                    extra["palettes"].append(flat_palette(flats.colours, seg.areas()))
                if layers and k == start:
                    extra["layered"] = _data_url(layered_bytes(f".{layers}", flats.image, flats.shading,
                                                               colouring.lines(), hidden_layers(output, keep_lines)),
                                                 LAYERED_TYPES[layers])
            extra["paper_gain"] = colouring.paper_gain  # the page levels its own copy of a grey-paper sketch
            return images, notes, extra

        async with queue_slot():
            drawing, hint_im = await asyncio.get_running_loop().run_in_executor(None, decode)  # 4096²: seconds
            if layers:  # before the colouring
                check_layered_size(f".{layers}", drawing.height, drawing.width)
            urls, warnings, extra = await in_worker(work)  # work reads drawing and hint_im, decoded just above
        return {"width": drawing.width, "height": drawing.height, "start": start, "candidates": len(urls),
                "warnings": warnings, "images": urls, **extra}

    @app.post("/api/layered")
    async def layered(sketch: UploadFile = File(..., description="the sketch the colouring was made for"),
                      flats: UploadFile = File(..., description="the flat colours as shown (fills included): "
                                                                 "a PNG of the sketch's size"),
                      shading: UploadFile = File(..., description="the shading as shown: a grey PNG of the "
                                                                   "sketch's size (255 = no change)"),
                      format: str = Form("psd", description="psd or ora")) -> dict:
        """The layered file of a colouring as the page shows it: its flats and shading under the sketch's
        own lines. Nothing is coloured again, so the file holds what is on screen, every fill included."""
        if format not in LAYERED_TYPES:
            raise ApiError(422, f"format must be psd or ora, got {format!r}")
        sketch_bytes = await _read_limited(sketch, config.max_upload_bytes, "sketch")
        flats_bytes = await _read_limited(flats, config.max_upload_bytes, "flats")
        shading_bytes = await _read_limited(shading, config.max_upload_bytes, "shading")

        def work() -> bytes:
            grey, line_colour = colorizer.load_lines(open_image(sketch_bytes, config.max_pixels,
                                                                name=sketch.filename or "sketch"))
            flat_rgb = to_float_array(load_rgb(flats_bytes, config.max_pixels, name=flats.filename or "flats"))
            shade = to_float_array(load_grey(shading_bytes, config.max_pixels, name=shading.filename or "shading"))
            for name, part in (("flats", flat_rgb), ("shading", shade)):
                if part.shape[:2] != grey.shape:
                    raise ApiError(422, f"{name} are {part.shape[1]}x{part.shape[0]}, the sketch "
                                        f"{grey.shape[1]}x{grey.shape[0]}: they must match")
            return layered_bytes(f".{format}", flat_rgb, shade, line_rows(grey, line_colour))

        async with queue_slot():
            data = await in_worker(work)
        return {"layered": _data_url(data, LAYERED_TYPES[format])}

    @app.post("/api/colorize-sequence")
    async def colorize_sequence(key: UploadFile = File(..., description="the coloured keyframe: PNG, JPEG or WEBP"),
                                key_sketch: UploadFile | None = File(None, description="the keyframe's line art, "
                                                                     "when it is separate"),
                                frames: list[UploadFile] = File(..., description="the cut's sketches, in order"),
                                keep_lines: bool = Form(True),
                                line_threshold: float | None = Form(None, description=LINE_THRESHOLD_HELP)) -> dict:
        """Colour a cut from its keyframe (inference.sequence): per frame the image and the centres of
        the regions that matched nothing in the key, which the network coloured."""
        if len(frames) > config.max_frames:
            raise ApiError(422, f"at most {config.max_frames} frames in one request, got {len(frames)}")
        check_line_threshold(line_threshold, name="line_threshold")
        colouring_by = colorizer if line_threshold is None else colorizer.with_line_threshold(line_threshold)
        key_bytes = await _read_limited(key, config.max_upload_bytes, "key")
        key_sketch_bytes = await _read_limited(key_sketch, config.max_upload_bytes, "key sketch") \
            if key_sketch and key_sketch.filename else None
        frame_bytes = [await _read_limited(f, config.max_upload_bytes, f"frame {i + 1}") for i, f in enumerate(frames)]

        def decode():
            key_rgb = to_float_array(load_rgb(key_bytes, config.max_pixels, name=key.filename or "key"))
            key_lines = load_grey(key_sketch_bytes, config.max_pixels, name=key_sketch.filename or "key sketch") \
                if key_sketch_bytes else None
            drawings, total = [], 0  # in their own modes: coloured lines keep their colour
            for i, (f, data) in enumerate(zip(frames, frame_bytes)):
                drawings.append(open_image(data, config.max_pixels, name=f.filename or f"frame {i + 1}"))
                total += drawings[-1].width * drawings[-1].height
                if total > config.max_sequence_pixels:
                    raise ApiError(413, f"the frames hold more than {config.max_sequence_pixels // 1_000_000} Mpx "
                                        f"together (at frame {i + 1}); send the cut in smaller parts")
            return key_rgb, key_lines, drawings

        def work():
            notes: list[str] = []
            colourings = colouring_by.colorize_sequence(drawings, reference=key_rgb, reference_sketch=key_lines,
                                                        warnings=notes)
            return [f"key: {note}" for note in notes], [
                {"width": drawing.width, "height": drawing.height,
                 "image": _png_data_url(Image.fromarray(c.image(keep_lines), "RGB")),
                 "unmatched": [list(centre) for centre in c.unmatched_centres()]}
                for drawing, c in zip(drawings, colourings)]

        async with queue_slot():
            key_rgb, key_lines, drawings = await asyncio.get_running_loop().run_in_executor(None, decode)
            warnings, coloured = await in_worker(work)
            return {"warnings": warnings, "frames": coloured}

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(STATIC / "docs.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def check_listen(host: str, port: int) -> None:
    """Prove host:port can be listened on before the model loads and uvicorn starts: a port out of range
    or already taken is then one line, where uvicorn would raise OverflowError or log its failure over
    several lines and exit 3. The probe binds as uvicorn does (SO_REUSEADDR) and closes at once."""
    if not 1 <= port <= 65535:
        raise InvalidArgument(f"--port {port}: not a port number (1 to 65535)")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise InvalidArgument(f"--port {port}: address already in use") from None
        raise InvalidArgument(f"--host {host}: cannot listen on port {port} ({os_reason(e)})") from None


def serve(host: str = "127.0.0.1", port: int = 8000, config: ServerConfig = ServerConfig()) -> None:
    import uvicorn

    check_listen(host, port)
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
