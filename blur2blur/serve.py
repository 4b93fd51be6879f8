"""`blur2blur serve`: a local web page to try a model on your own photos and short videos.

One FastAPI app with one static page (no external assets, works offline): drop an image or a
video, see the input, the translated image T(y) and the deblurred result side by side, compare
input and result with a before/after slider, download the result. Images come back as PNG, videos
as MP4 (H.264, `blur2blur deblur`'s video path). `fastapi`, `uvicorn` and `python-multipart` are an
optional extra (`pip install blur2blur[serve]`).

Safety (docs/reliability.md): the server binds to 127.0.0.1 unless told otherwise; requests whose
`Host` is not a name of the bound address are refused (403), and so are POSTs from another origin
(a web page the user visits cannot use the model, even through DNS rebinding); an upload is cut off
at `max_mb` while it arrives (413, never spooled whole); an image above `max_pixels` (or a video
whose frames are) is refused from its header before it is decoded; the model is tried once at
start, so a model that cannot run is an error before the page opens; every error is JSON with a
`detail` the page shows; one request runs at a time per model (others wait their turn).
"""

import base64
import io
import json
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from blur2blur.io import ImageReadError, read_image
from blur2blur.video.deblur import deblur_video
from blur2blur.video.io import is_video, probe

IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def _png_data_url(img: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
MAX_MB = 4096.0  # (largest --max-mb: uploads are held in memory)
# Containers a browser's <video> plays; others (AVI, MKV, 3GP, MTS...) are previewed as a frame.
PLAYABLE = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm"}


class RequestRefused(Exception):
    """An upload refused with an HTTP status and a message (sent as JSON `detail`)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def check_limits(max_mb: float, max_pixels: int) -> None:
    """ValueError for limits the server cannot honour (said at start, not at the first upload)."""
    if not (isinstance(max_mb, (int, float)) and 0 < max_mb <= MAX_MB):
        raise ValueError(f"--max-mb must be a number of megabytes in (0, {MAX_MB:g}], got {max_mb!r}")
    if not (isinstance(max_pixels, int) and max_pixels >= 256):
        raise ValueError(f"--max-pixels must be a whole number >= 256, got {max_pixels!r}")


def create_app(pipeline, max_mb: float = 20.0, title: str = "blur2blur", hosts: tuple[str, ...] | None = LOCAL_NAMES,
               max_pixels: int = 24_000_000):
    """The app serving `pipeline` (a DeblurPipeline or OnnxPipeline): GET / (the page),
    POST /api/deblur (multipart field `file`: an image or a video), GET /api/health.

    `hosts`: the host names requests may be addressed to (the `Host` header, port aside); None
    accepts any (a server bound to every address). `max_pixels`: the largest image (or video
    frame) in pixels, checked from the file's header."""
    try:
        from fastapi import FastAPI, File, HTTPException, UploadFile
        from fastapi.responses import HTMLResponse, JSONResponse
    except ImportError:
        raise ImportError("the web page needs fastapi, uvicorn and python-multipart: "
                          "pip install 'blur2blur[serve]'") from None

    check_limits(max_mb, max_pixels)
    app = FastAPI(title=title)
    lock = threading.Lock()  # (one request at a time per model; FastAPI runs sync routes in threads)
    limit = int(max_mb * 1024 * 1024)
    keys = pipeline.output_keys()
    allowed = {h.strip("[]").lower() for h in hosts} if hosts is not None else None

    @app.get("/", response_class=HTMLResponse)
    def page():
        return (PAGE.replace("{{TITLE}}", title).replace("{{MAX_MB}}", f"{max_mb:g}")
                .replace("{{MAX_MP}}", f"{max_pixels / 1e6:g}"))

    @app.get("/api/health")
    def health():
        return {"ok": True, "outputs": keys, "max_mb": max_mb, "max_pixels": max_pixels}

    @app.post("/api/deblur")
    def deblur(file: UploadFile = File(...)):
        name = file.filename or "upload"
        data = file.file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"{name} is larger than the limit of {max_mb:g} MB "
                                     f"(start the server with --max-mb to change it)")
        if not data:
            raise HTTPException(400, f"{name} is empty")
        with lock, tempfile.TemporaryDirectory(prefix="b2b-serve-") as tmp:
            src = Path(tmp) / ("upload" + safe_suffix(name))  # (never the client's name on disk)
            src.write_bytes(data)
            try:
                if is_video(src):
                    return JSONResponse(_video(pipeline, src, Path(tmp), name, max_pixels))
                return JSONResponse(_image(pipeline, src, name, max_pixels))
            except RequestRefused as exc:
                raise HTTPException(exc.status, exc.detail) from None
            except (ValueError, OSError) as exc:
                raise HTTPException(400, f"cannot deblur {name}: {exc}") from None

    @app.exception_handler(Exception)
    async def any_error(request, exc):  # (a bug or a failure: JSON the page can show, no traceback)
        return JSONResponse({"detail": f"the server failed on this request: {type(exc).__name__}: {exc}"},
                            status_code=500)

    return GuardedApp(app, limit, allowed)


class GuardedApp:
    """ASGI wrapper of the app: the Host and Origin checks, and the upload size cut off as the
    body arrives (a Content-Length above the limit is refused before reading anything)."""

    SLACK = 64 * 1024  # (multipart headers around the file)

    def __init__(self, app, limit: int, hosts: set[str] | None):
        self.app, self.limit, self.hosts = app, limit, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts is not None and _hostname(host) not in self.hosts:
            return await _send_json(send, 403, f"this server answers to {', '.join(sorted(self.hosts))} only, "
                                               f"not to the host {host!r}")
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD") and origin is not None \
                and origin.split("://", 1)[-1].lower() != host.lower():  # ("null": a sandboxed page, refused too)
            return await _send_json(send, 403, f"requests from another site ({origin}) are refused")
        if scope["method"] not in ("GET", "HEAD") and headers.get("sec-fetch-site") == "cross-site":
            return await _send_json(send, 403, "requests from another site are refused")
        cap = self.limit + self.SLACK
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            return await _send_json(send, 413, f"the upload ({int(length) / 1e6:.1f} MB) is larger than the limit "
                                               f"of {self.limit / 1024 / 1024:g} MB (start the server with "
                                               "--max-mb to change it)")
        received, refused = 0, False
        too_big = (f"the upload is larger than the limit of {self.limit / 1024 / 1024:g} MB "
                   "(start the server with --max-mb to change it)")

        async def counted():  # (the body as it arrives: past the limit, answer 413 and stop reading)
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > cap:
                    refused = True
                    await _send_json(send, 413, too_big)
                    return {"type": "http.disconnect"}
            return message

        async def quiet_after_refusal(message):
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, quiet_after_refusal)
        except Exception:
            if not refused:
                raise


async def _send_json(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _hostname(host: str) -> str:
    """The name of a Host header without its port ("[::1]:80" -> "::1")."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def safe_suffix(name: str) -> str:
    """The file's extension if it is a short plain one (".png", ".mp4"), else ".bin"."""
    suffix = Path(name).suffix.lower()
    return suffix if 2 <= len(suffix) <= 6 and suffix[1:].isalnum() and suffix[1:].isascii() else ".bin"


def _image(pipeline, src: Path, name: str | None, max_pixels: int) -> dict:
    try:
        with Image.open(src) as im:  # (the header only: the size before any pixel is decoded)
            w, h = im.size
    except Exception:
        w = h = 0
    if w * h > max_pixels:
        raise RequestRefused(413, f"{name} is {w}x{h} px ({w * h / 1e6:.1f} MP), more than the limit of "
                                  f"{max_pixels / 1e6:g} MP (start the server with --max-pixels to change it)")
    try:
        img = read_image(src)
    except ImageReadError as exc:
        raise ValueError(exc.reason) from None
    outs = pipeline.run(img)
    result = {"kind": "image", "name": name, "input": _png_data_url(img), "width": img.shape[1],
              "height": img.shape[0]}
    for key, value in outs.items():
        result[key] = _png_data_url(value)
    return result


def _video(pipeline, src: Path, tmp: Path, name: str, max_pixels: int) -> dict:
    info = probe(src)
    if info.width * info.height > max_pixels:
        raise RequestRefused(413, f"{name}: its frames are {info.width}x{info.height} px, more than the limit of "
                                  f"{max_pixels / 1e6:g} MP (start the server with --max-pixels to change it)")
    out = tmp / "deblurred.mp4"
    result = deblur_video(pipeline, src, out, progress=False)
    mime = PLAYABLE.get(Path(name).suffix.lower())
    reply = {"kind": "video", "frames": result["frames"], "fps": round(result["fps"], 2),
             "deblurred": "data:video/mp4;base64," + base64.b64encode(out.read_bytes()).decode()}
    if mime:
        reply["input"] = f"data:{mime};base64," + base64.b64encode(src.read_bytes()).decode()
    else:  # (a browser cannot play it: the page shows the result, and says why the input is missing)
        reply["input"] = None
        reply["note"] = f"the browser cannot play {Path(name).suffix or 'this'} files: only the result is shown"
    return reply


def serve(pipeline, host: str = "127.0.0.1", port: int = 7860, max_mb: float = 20.0,
          max_pixels: int = 24_000_000) -> None:
    """Try the model once, then run the page until Ctrl-C."""
    try:
        import uvicorn
    except ImportError:
        raise ImportError("the web page needs fastapi, uvicorn and python-multipart: "
                          "pip install 'blur2blur[serve]'") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be 1..65535, got {port}")
    check_limits(max_mb, max_pixels)
    try:  # (a model of the wrong shape or kind: said now, not at every upload)
        out = pipeline.run(np.full((32, 48, 3), 0.5, np.float32))
        if out["deblurred" if "deblurred" in out else "translated"].shape != (32, 48, 3):
            raise ValueError(f"a 48x32 image came back {out['deblurred'].shape[1::-1]}")
    except Exception as exc:
        raise ValueError(f"the model cannot deblur a test image ({exc}): check the model given to serve") from None
    everywhere = host in ("0.0.0.0", "::", "")
    hosts = None if everywhere else tuple(dict.fromkeys((host, *LOCAL_NAMES)))
    app = create_app(pipeline, max_mb, hosts=hosts, max_pixels=max_pixels)
    print(f"blur2blur serve: open http://{'localhost' if everywhere else host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{TITLE}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f2;color:#222}
header{background:#223;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}
main{max-width:1200px;margin:auto;padding:16px}
#drop{border:2px dashed #889;border-radius:8px;padding:28px;text-align:center;background:#fff;cursor:pointer}
#drop.over{background:#eef}#status{margin:10px 0;min-height:1.4em}
.row{display:flex;gap:12px;flex-wrap:wrap;margin-top:12px}.panel{flex:1;min-width:240px;background:#fff;
border-radius:6px;padding:8px}.panel h2{font-size:14px;margin:4px 0 8px}.panel img,.panel video{width:100%}
#compare{position:relative;max-width:900px;margin-top:14px;user-select:none}#compare img{display:block;width:100%}
#after{position:absolute;top:0;left:0;width:100%;height:100%;clip-path:inset(0 0 0 50%)}
#compare-box{max-width:900px}#slider{width:100%}a.button{display:inline-block;margin-top:10px;padding:8px 14px;background:#334;color:#fff;
border-radius:5px;text-decoration:none}.error{color:#b00}
</style></head><body>
<header><h1>{{TITLE}}: deblur your camera's photos</h1></header>
<main>
<div id="drop">Drop an image or a short video here, or click to choose one (at most {{MAX_MB}} MB and {{MAX_MP}} megapixels)
<input id="file" type="file" accept="image/*,video/*" hidden></div>
<div id="status"></div>
<div id="result" hidden>
 <div class="row" id="panels"></div>
 <div id="compare-box"><h2 style="font-size:14px">Before / after</h2>
  <div id="compare"><img id="before" alt="input"><img id="after" alt="deblurred"></div>
  <input id="slider" type="range" min="0" max="100" value="50" aria-label="before/after"></div>
 <a id="download" class="button" download="deblurred.png">Download the result</a>
</div>
</main>
<script>
const drop=document.getElementById('drop'),file=document.getElementById('file'),statusEl=document.getElementById('status');
drop.onclick=()=>file.click();
drop.ondragover=e=>{e.preventDefault();drop.classList.add('over')};
drop.ondragleave=()=>drop.classList.remove('over');
drop.ondrop=e=>{e.preventDefault();drop.classList.remove('over');if(e.dataTransfer.files.length)send(e.dataTransfer.files[0])};
file.onchange=()=>{if(file.files.length)send(file.files[0])};
document.getElementById('slider').oninput=e=>{document.getElementById('after').style.clipPath='inset(0 0 0 '+e.target.value+'%)'};
function panel(title,url,video){const d=document.createElement('div');d.className='panel';
 d.innerHTML='<h2>'+title+'</h2>'+(video?'<video controls loop muted autoplay src="'+url+'"></video>':'<img alt="'+title+'" src="'+url+'">');return d}
async function send(f){
 statusEl.className='';statusEl.textContent='Deblurring '+f.name+' ...';document.getElementById('result').hidden=true;
 const body=new FormData();body.append('file',f);
  let r;try{r=await fetch('/api/deblur',{method:'POST',body})}catch(e){statusEl.className='error';statusEl.textContent='The server did not answer: '+e;return}
 let j;try{j=await r.json()}catch(e){statusEl.className='error';statusEl.textContent='error '+r.status+': the server did not answer in JSON';return}
 if(!r.ok){statusEl.className='error';statusEl.textContent=j.detail||('error '+r.status);return}
 const panels=document.getElementById('panels');panels.innerHTML='';const video=j.kind==='video';
 if(j.input)panels.appendChild(panel('input',j.input,video));
 if(j.translated)panels.appendChild(panel('translated T(y)',j.translated,video));
 panels.appendChild(panel('deblurred',j.deblurred,video));
 document.getElementById('compare-box').hidden=video;
 if(!video){document.getElementById('before').src=j.input;document.getElementById('after').src=j.deblurred}
 const a=document.getElementById('download');a.href=j.deblurred;a.download=video?'deblurred.mp4':'deblurred.png';
 statusEl.textContent='Done: '+f.name+(video?' ('+j.frames+' frames)':' ('+j.width+'x'+j.height+')')+(j.note?' - '+j.note:'');
 document.getElementById('result').hidden=false}
</script></body></html>
"""
