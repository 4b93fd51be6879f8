"""The local web page (issue #22): over HTTP always, end to end in headless Chromium when it is
installed (Debian's `chromium` package and the `playwright` Python package)."""

import base64
import io
import shutil
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import read_image, write_image
from tests.conftest import smooth_photo
from tests.test_export import _checkpoints

fastapi = pytest.importorskip("fastapi", reason="the web page needs fastapi (pip install 'blur2blur[serve]')")


def _decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


@pytest.fixture
def served(tmp_path):
    from blur2blur.serve import create_app

    deb, tra = _checkpoints(tmp_path)
    pipe = DeblurPipeline.from_checkpoints(deb, tra, "cpu", amp="none")
    img = smooth_photo(np.random.default_rng(0), 40, 56)
    write_image(tmp_path / "photo.png", img)
    want = np.clip(np.round(pipe.run(read_image(tmp_path / "photo.png"))["deblurred"] * 255), 0, 255).astype(np.uint8)
    return create_app(pipe, max_mb=0.05), tmp_path, want


def test_page_and_api_over_http(served):
    from fastapi.testclient import TestClient

    app, folder, want = served
    client = TestClient(app, base_url="http://127.0.0.1:7860")
    page = client.get("/")
    assert page.status_code == 200 and "Drop an image" in page.text and "http" not in page.text.split("<script>")[0]
    with open(folder / "photo.png", "rb") as f:
        r = client.post("/api/deblur", files={"file": ("photo.png", f, "image/png")})
    assert r.status_code == 200
    j = r.json()
    assert j["kind"] == "image" and (j["width"], j["height"]) == (56, 40)
    assert np.array_equal(_decode(j["deblurred"]), want)  # what `blur2blur deblur` writes
    assert _decode(j["translated"]).shape == (40, 56, 3)
    big = client.post("/api/deblur", files={"file": ("big.png", b"\0" * 60_000, "image/png")})
    assert big.status_code == 413 and "larger than the limit" in big.json()["detail"]
    bad = client.post("/api/deblur", files={"file": ("junk.png", b"not an image", "image/png")})
    assert bad.status_code == 400 and "junk.png" in bad.json()["detail"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_page_end_to_end_in_chromium(served):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt install chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    import uvicorn

    app, folder, want = served
    port = _free_port()
    refused = []

    async def recorded(scope, receive, send):  # (the statuses the server sent to other origins)
        async def spy(message):
            if message["type"] == "http.response.start" and dict(scope["headers"]).get(b"origin", b"").endswith(
                    str(site_port).encode()):
                refused.append(message["status"])
            await send(message)
        await app(scope, receive, spy)

    import http.server

    site_port = _free_port()  # (another site: a page on another port of this machine)
    site = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), type("Page", (http.server.BaseHTTPRequestHandler,), {
        "do_GET": lambda self: (self.send_response(200), self.send_header("Content-Type", "text/html"),
                                self.end_headers(), self.wfile.write(b"<html><body>another site</body></html>")),
        "log_message": lambda self, *a: None}))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    server = uvicorn.Server(uvicorn.Config(recorded, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/")
            page.set_input_files("#file", str(folder / "photo.png"))
            page.wait_for_selector("#status:has-text('Done')", timeout=60_000)
            src = page.get_attribute("#panels .panel:last-child img", "src")
            assert np.array_equal(_decode(src), want)
            page.screenshot(path=str(folder / "page.png"), full_page=True)
            # the limits, as the page shows them: a file above --max-mb is refused while it arrives
            noisy = (np.random.default_rng(1).random((200, 200, 3)) * 255).astype(np.uint8)
            Image.fromarray(noisy).save(folder / "big.png")
            page.set_input_files("#file", str(folder / "big.png"))
            page.wait_for_selector("#status.error:has-text('larger than the limit')", timeout=60_000)
            # another site's page cannot use the model: its POST is refused (403) before the model runs
            other = browser.new_page()
            other.goto(f"http://127.0.0.1:{site_port}/")
            status = other.evaluate(f"""async () => {{const b = new FormData();
                b.append('file', new Blob([new Uint8Array([1, 2, 3])]), 'a.png');
                try {{ const r = await fetch('http://127.0.0.1:{port}/api/deblur', {{method: 'POST', body: b}});
                       return r.status }} catch (e) {{ return 'blocked' }} }}""")
            assert status in (403, "blocked")  # (the browser hides a cross-origin answer; the server saw it)
            assert refused and refused[-1] == 403
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        site.shutdown()
    assert (folder / "page.png").stat().st_size > 1000
