"""`blur2blur serve`: a local web page to try a model on your own photos and short videos.

One FastAPI app with one static page (no external assets, works offline): drop an image or a
video, see the input, the translated image T(y) and the deblurred result side by side, compare
input and result with a before/after slider, download the result. Images come back as PNG, videos
as MP4 (H.264, `blur2blur deblur`'s video path). The server binds to 127.0.0.1 unless told
otherwise, refuses uploads above `max_mb` with a clear message, and runs one request at a time
per model (others wait their turn). `fastapi`, `uvicorn` and `python-multipart` are an optional
extra (`pip install blur2blur[serve]`).
"""

import base64
import io
import tempfile
import threading
from pathlib import Path

import numpy as np

IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def _png_data_url(img: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def create_app(pipeline, max_mb: float = 20.0, title: str = "blur2blur"):
    """The app serving `pipeline` (a DeblurPipeline or OnnxPipeline): GET / (the page),
    POST /api/deblur (multipart field `file`: an image or a video), GET /api/health."""
    try:
        from fastapi import FastAPI, File, HTTPException, UploadFile
        from fastapi.responses import HTMLResponse, JSONResponse
    except ImportError:
        raise ImportError("the web page needs fastapi, uvicorn and python-multipart: "
                          "pip install 'blur2blur[serve]'") from None

    app = FastAPI(title=title)
    lock = threading.Lock()  # (one request at a time per model; FastAPI runs sync routes in threads)
    limit = int(max_mb * 1024 * 1024)
    keys = pipeline.output_keys()

    @app.get("/", response_class=HTMLResponse)
    def page():
        return PAGE.replace("{{TITLE}}", title).replace("{{MAX_MB}}", f"{max_mb:g}")

    @app.get("/api/health")
    def health():
        return {"ok": True, "outputs": keys, "max_mb": max_mb}

    @app.post("/api/deblur")
    def deblur(file: UploadFile = File(...)):
        data = file.file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"{file.filename} is larger than the limit of {max_mb:g} MB "
                                     f"(start the server with --max-mb to change it)")
        if not data:
            raise HTTPException(400, f"{file.filename} is empty")
        suffix = Path(file.filename or "").suffix.lower()
        from blur2blur.video.io import is_video

        with lock, tempfile.TemporaryDirectory(prefix="b2b-serve-") as tmp:
            src = Path(tmp) / ("upload" + (suffix or ".bin"))
            src.write_bytes(data)
            try:
                if is_video(src):
                    return JSONResponse(_video(pipeline, src, Path(tmp)))
                return JSONResponse(_image(pipeline, src, file.filename))
            except (ValueError, OSError) as exc:
                raise HTTPException(400, f"cannot deblur {file.filename}: {exc}") from None

    return app


def _image(pipeline, src: Path, name: str | None) -> dict:
    from blur2blur.io import ImageReadError, read_image

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


def _video(pipeline, src: Path, tmp: Path) -> dict:
    from blur2blur.video.deblur import deblur_video

    out = tmp / "deblurred.mp4"
    result = deblur_video(pipeline, src, out, progress=False)
    return {"kind": "video", "frames": result["frames"], "fps": round(result["fps"], 2),
            "input": "data:video/mp4;base64," + base64.b64encode(src.read_bytes()).decode(),
            "deblurred": "data:video/mp4;base64," + base64.b64encode(out.read_bytes()).decode()}


def serve(pipeline, host: str = "127.0.0.1", port: int = 7860, max_mb: float = 20.0) -> None:
    """Run the page until Ctrl-C."""
    try:
        import uvicorn
    except ImportError:
        raise ImportError("the web page needs fastapi, uvicorn and python-multipart: "
                          "pip install 'blur2blur[serve]'") from None
    app = create_app(pipeline, max_mb)
    print(f"blur2blur serve: open http://{host}:{port}/ (Ctrl-C to stop)")
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
<div id="drop">Drop an image or a short video here, or click to choose one (at most {{MAX_MB}} MB)
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
 const j=await r.json();
 if(!r.ok){statusEl.className='error';statusEl.textContent=j.detail||('error '+r.status);return}
 const panels=document.getElementById('panels');panels.innerHTML='';const video=j.kind==='video';
 panels.appendChild(panel('input',j.input,video));
 if(j.translated)panels.appendChild(panel('translated T(y)',j.translated,video));
 panels.appendChild(panel('deblurred',j.deblurred,video));
 document.getElementById('compare-box').hidden=video;
 if(!video){document.getElementById('before').src=j.input;document.getElementById('after').src=j.deblurred}
 const a=document.getElementById('download');a.href=j.deblurred;a.download=video?'deblurred.mp4':'deblurred.png';
 statusEl.textContent='Done: '+f.name+(video?' ('+j.frames+' frames)':' ('+j.width+'x'+j.height+')');
 document.getElementById('result').hidden=false}
</script></body></html>
"""
