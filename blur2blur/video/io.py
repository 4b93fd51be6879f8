"""Video reading and writing with PyAV (FFmpeg bindings; its wheels bundle FFmpeg).

Frames come out as the library's images: RGB float32 HxWx3 in [0, 1], **upright** (a phone's
rotation metadata is applied to the pixels), with their index in the stream and their time in
seconds (variable frame rate is kept as it is: times come from the stream's timestamps).
10-bit and HDR video is converted to 8-bit sRGB by FFmpeg's scaler, without tone mapping;
`VideoInfo.note` says so.

`VideoWriter` writes H.264 (yuv420p, `crf` quality) under a temporary name beside the target and
renames it only when closed without an error, so an interrupted write never leaves a file at the
final name. It can store the frames with a display rotation (upright frames are rotated back, so
the file has the input's coded size and rotation) and copy the audio stream of another file
untouched.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.io import IMAGE_EXTENSIONS
from blur2blur.outputs.files import temp_path

# Containers read (PyAV/FFmpeg): phones (MP4, MOV, 3GP), camcorders (MTS/M2TS), broadcast (TS), ...
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".3gp", ".3g2", ".mts",
                                     ".m2ts", ".ts", ".mpg", ".mpeg", ".wmv", ".flv")
# Transfer characteristics of HDR video (PQ and HLG), as FFmpeg numbers them.
_HDR_TRC = {16, 18}


class VideoError(ValueError):
    """A video file could not be used; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path, self.reason = Path(path), str(reason)
        super().__init__(f"cannot read video {self.path}: {self.reason}")


def is_video(path: str | os.PathLike) -> bool:
    """True for a file name with a video extension (VIDEO_EXTENSIONS, any case)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def video_output(out: str | os.PathLike, source: str | os.PathLike) -> Path:
    """The file a video deblur writes for `out`: `out/<source stem>.mp4` for a folder (existing, or a
    name without a video extension and no image extension), else `out` itself, which must name a
    container the writer makes (WRITABLE). Checked before any work; ValueError names the fix."""
    out = Path(out)
    suffix = out.suffix.lower()
    images = IMAGE_EXTENSIONS + (".gif",)
    if out.is_dir() or (not suffix or (suffix not in VIDEO_EXTENSIONS and suffix not in images)):
        return out / (Path(source).stem + ".mp4")
    if suffix in images:
        raise ValueError(f"the input {Path(source).name} is a video, so the output {out.name} cannot be an image: give "
                         f"a folder or a video file name ({', '.join(WRITABLE)})")
    if suffix not in WRITABLE:
        raise ValueError(f"{out.name}: videos are written as H.264 in {', '.join(WRITABLE)}, not {suffix}: "
                         f"give one of those names, or a folder")
    return out


def list_videos(folder: str | os.PathLike) -> list[Path]:
    """Video files directly in `folder` (no recursion, hidden files skipped), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and is_video(p))


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. `width` x `height` are the upright (displayed) size; `rotation` the
    display rotation in degrees counter-clockwise (0, 90, 180, 270); `fps` the average frame rate;
    `frames` the frame count the container declares (None when it does not); `note` a remark for
    the user (10-bit or HDR input converted to 8-bit), or ""."""

    path: Path
    width: int
    height: int
    rotation: int
    fps: Fraction
    frames: int | None
    duration_s: float | None
    has_audio: bool
    codec: str
    pix_fmt: str
    note: str = ""


def _open(path: Path):
    if not path.is_file():
        raise VideoError(path, "no such file" if not path.exists() else "not a file")
    if path.stat().st_size == 0:
        raise VideoError(path, "the file is empty")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise VideoError(path, f"not a readable video ({exc.strerror or exc})") from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        container.close()
        raise VideoError(path, f"it has no video stream ({', '.join(kinds)} only)")
    return container


def _rotation(value) -> int:
    return int(round((value or 0) / 90.0)) * 90 % 360


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's facts from its header and first frame; VideoError names what is wrong."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream))
        except (StopIteration, av.FFmpegError):
            raise VideoError(path, "it has no decodable video frame") from None
        rotation = _rotation(first.rotation)
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        fps = stream.average_rate or stream.guessed_rate or Fraction(30)
        duration = float(stream.duration * stream.time_base) if stream.duration else (
            container.duration / 1e6 if container.duration else None)
        frames = stream.frames or None
        if frames is None and duration:
            frames = int(round(duration * float(fps)))
        fmt = first.format.name
        note = ""
        deep = any(c.bits > 8 for c in first.format.components)
        hdr = getattr(first, "color_trc", None) in _HDR_TRC
        if deep or hdr:
            what = "HDR " if hdr else ""
            note = (f"{what}{fmt} video converted to 8-bit sRGB by FFmpeg's scaler"
                    + (" without tone mapping: highlights may clip" if hdr else ""))
        return VideoInfo(path, w, h, rotation, Fraction(fps), frames, duration,
                         bool(container.streams.audio), stream.codec_context.name, fmt, note)
    finally:
        container.close()


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in the stream (0-based), its time in seconds, the upright
    RGB image (float32 HxWx3 in [0,1]) and the stream timestamp (`pts`, in `time_base`)."""

    index: int
    time: float
    image: np.ndarray
    pts: int | None
    time_base: Fraction | None


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """A coded frame (HxWxC) rotated `rotation` degrees counter-clockwise for display."""
    return np.ascontiguousarray(np.rot90(rgb, k=_rotation(rotation) // 90))


def resize_long_side(img: np.ndarray, long_side: int) -> np.ndarray:
    """`img` (HxWx3 float) shrunk so that its longer side is `long_side` px (area filter); never
    enlarged."""
    h, w = img.shape[:2]
    if max(h, w) <= long_side:
        return img
    s = long_side / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=size, mode="area")[0].permute(1, 2, 0).numpy()


def read_frames(path: str | os.PathLike, every: int = 1, fps: float | None = None,
                max_frames: int | None = None, long_side: int | None = None) -> Iterator[Frame]:
    """Decode a video's frames in order, upright: every `every`-th frame, or (with `fps`) the
    first frame at or after each multiple of 1/fps seconds; at most `max_frames`; shrunk to
    `long_side` px when given. Corrupt packets are skipped by FFmpeg; a file with no decodable
    frame is a VideoError."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    path = Path(path)
    container = _open(path)
    produced = 0
    next_time = 0.0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                t = float(frame.time) if frame.time is not None else index / float(stream.average_rate or 30)
                if fps is not None:
                    if t + 1e-6 < next_time:
                        continue
                    next_time = (math.floor(t * fps + 1e-6) + 1) / fps
                elif index % every:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                img = upright(rgb, _rotation(frame.rotation)).astype(np.float32) / 255.0
                if long_side:
                    img = resize_long_side(img, long_side)
                yield Frame(index, t, img, frame.pts, frame.time_base)
                produced += 1
                if max_frames is not None and produced >= max_frames:
                    return
        except av.FFmpegError as exc:
            if produced == 0:
                raise VideoError(path, f"decoding failed ({exc.strerror or exc})") from None
            raise VideoError(path, f"decoding failed after {produced} frames ({exc.strerror or exc})") from None
        if produced == 0 and index < 0:
            raise VideoError(path, "it has no decodable video frame")
    finally:
        container.close()


class VideoWriter:
    """Write upright RGB frames to an H.264 MP4/MOV/MKV file (yuv420p; odd sizes yuv444p), atomically.

    `width` x `height`: the upright frame size (an odd one is written in yuv444p, exactly);
    `fps`: the nominal rate; frames may carry their own `pts` in `time_base` (variable frame
    rate kept) or are spaced 1/fps apart. `rotation`: stored as the display rotation, the frames
    rotated back to the coded orientation. `audio_from`: a file whose first audio stream is
    copied packet for packet. `crf`: x264's constant rate factor (0 lossless .. 51; 18 is
    visually lossless for most content). Use as a context manager: the file appears at `path`
    only when the block ends without an exception.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: Fraction | float,
                 crf: int = 18, rotation: int = 0, audio_from: str | os.PathLike | None = None,
                 time_base: Fraction | None = None):
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {crf}")
        self.path = Path(path)
        self.rotation = _rotation(rotation)
        cw, ch = (height, width) if self.rotation in (90, 270) else (width, height)
        # yuv420p (what every player plays) needs an even size; an odd one keeps its exact size in
        # yuv444p (H.264 High 4:4:4: desktop players and FFmpeg read it, some browsers do not)
        self.pix_fmt = "yuv444p" if cw % 2 or ch % 2 else "yuv420p"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.path).with_suffix(self.path.suffix)
        self.fps = Fraction(fps).limit_denominator(100000)
        self.container = av.open(str(self.tmp), "w", format=_FORMATS.get(self.path.suffix.lower(), None))
        self.stream = self.container.add_stream("libx264", rate=self.fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = cw, ch, self.pix_fmt
        self.stream.options = {"crf": str(int(crf))}
        # frames' timestamps are in `tb`: the source's time base (variable frame rate kept) or 1/fps
        self.tb = Fraction(time_base) if time_base is not None else 1 / self.fps
        self.stream.codec_context.time_base = self.tb
        if self.rotation:
            self.stream.set_display_rotation(self.rotation)
        self.audio_from = Path(audio_from) if audio_from else None
        self._audio_in = self._audio_out = None
        if self.audio_from is not None:
            src = av.open(str(self.audio_from))
            if src.streams.audio:
                self._audio_in = src
                self._audio_out = self.container.add_stream_from_template(src.streams.audio[0])
            else:
                src.close()
        self.count = 0
        self.retimed = 0  # (frames whose timestamp had to be moved forward)
        self._last_pts: int | None = None
        self._closed = False

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        """Append one upright frame (HxWx3 float in [0,1] or uint8); `pts` in `time_base` (None:
        the frame count / fps)."""
        arr = image if image.dtype == np.uint8 else np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
        if self.rotation:  # back to the coded orientation
            arr = np.ascontiguousarray(np.rot90(arr, k=-self.rotation // 90))
        if arr.shape[1] != self.stream.width or arr.shape[0] != self.stream.height:
            raise ValueError(f"frame {self.count} is {arr.shape[1]}x{arr.shape[0]}, the video "
                             f"{self.stream.width}x{self.stream.height} (coded)")
        frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
        step = max(1, int(round(1 / self.fps / self.tb)))
        nominal = int(pts) if pts is not None else int(round(self.count / self.fps / self.tb))
        if self._last_pts is not None and nominal <= self._last_pts:
            # (a source whose timestamps go back or repeat, e.g. an AVI with B-frames: the muxer
            # refuses them, so such a frame is shown one frame period after the previous one)
            nominal = self._last_pts + step
            self.retimed += 1
        frame.pts = self._last_pts = nominal
        frame.time_base = self.tb
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def _copy_audio(self) -> None:
        stream_in = self._audio_in.streams.audio[0]
        for packet in self._audio_in.demux(stream_in):
            if packet.dts is None:  # (the demuxer's final flush packet)
                continue
            packet.stream = self._audio_out
            self.container.mux(packet)

    def close(self, ok: bool = True) -> Path | None:
        """Finish the file and move it to `path` (`ok`), or delete the partial file."""
        if self._closed:
            return self.path if ok else None
        self._closed = True
        try:
            if ok:
                for packet in self.stream.encode():
                    self.container.mux(packet)
                if self._audio_out is not None:
                    self._copy_audio()
        finally:
            self.container.close()
            if self._audio_in is not None:
                self._audio_in.close()
        if ok and self.count:
            os.replace(self.tmp, self.path)
            return self.path
        self.tmp.unlink(missing_ok=True)
        if ok:
            raise ValueError(f"no frames were written to {self.path}")
        return None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.close(ok=exc_type is None)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            if exc_type is None:
                raise


_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
WRITABLE = tuple(_FORMATS)  # (the containers VideoWriter makes)
