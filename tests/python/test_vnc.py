"""Issue 14's interactive console: DescribeInstanceVncUrl through the official ECS SDK (both signature
algorithms), then RFB 3.8 over the WebSocket behind the URL, spoken here by hand (websocket-client):
ProtocolVersion, security type None, ClientInit, ServerInit with the guest's screen size, a
FramebufferUpdateRequest answered with Raw pixels that show the test guest's blue screen, as
GetInstanceScreenshot's JPEG of the same guest does. A URL is for one connection: reused, expired or
made up, it is refused with a clear HTTP error on the upgrade; a plain GET does not spend it. A VM that
stops mid-session closes the WebSocket (1001). Error codes on a fake-driver server of its own with a
2-second validity (`--vnc-url-validity-secs 2`)."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import struct
import time
import urllib.error
import urllib.request

import pytest
import websocket
from alibabacloud_ecs20140526 import models as m
from PIL import Image

import labkit
from labkit import REGION

URL = re.compile(r"ws://127\.0\.0\.1:(\d+)/vnc/([0-9a-f]{40})")


def blue_fraction(img: Image.Image) -> float:
    """docs/GUEST.md: a pixel is blue when b >= 128, r < 96 and g < 96."""
    data = img.convert("RGB").tobytes()
    blue = sum(1 for i in range(0, len(data), 3) if data[i + 2] >= 128 and data[i] < 96 and data[i + 1] < 96)
    return blue / (len(data) // 3)


def mean_rgb(img: Image.Image) -> tuple[float, float, float]:
    rgb = img.convert("RGB")
    data = rgb.tobytes()
    n = len(data) // 3
    return tuple(sum(data[c::3]) / n for c in range(3))


def vnc_url(client, instance_id: str) -> str:
    body = client.describe_instance_vnc_url(m.DescribeInstanceVncUrlRequest(
        region_id=REGION, instance_id=instance_id)).body
    assert body.request_id
    return body.vnc_url


class Rfb:
    """An RFB 3.8 client over a WebSocket: bytes arrive in binary messages of any size."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url, subprotocols=["binary"], timeout=30)
        self.buf = b""

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            opcode, data = self.ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_BINARY, (opcode, data[:40])
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handshake(self) -> tuple[int, int, str]:
        assert self.read(12) == b"RFB 003.008\n"
        self.ws.send_binary(b"RFB 003.008\n")
        (count,) = self.read(1)
        types = list(self.read(count))
        assert types == [1], f"security types {types}: the URL is the credential, so None (1) only"
        self.ws.send_binary(b"\x01")
        assert struct.unpack(">I", self.read(4))[0] == 0, "SecurityResult OK"
        self.ws.send_binary(b"\x01")  # ClientInit, shared
        width, height = struct.unpack(">HH", self.read(4))
        self.read(16)  # the server's pixel format: we set our own
        (name_len,) = struct.unpack(">I", self.read(4))
        name = self.read(name_len).decode()
        return width, height, name

    def frame(self, width: int, height: int) -> Image.Image:
        # SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, 255 each, shifts 16/8/0 (BGRX bytes).
        self.ws.send_binary(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        self.ws.send_binary(struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: Raw only
        self.ws.send_binary(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))  # full update
        img = Image.new("RGB", (width, height))
        covered = 0
        while covered < width * height:
            kind, _, rects = struct.unpack(">BBH", self.read(4))
            assert kind == 0, f"server message {kind} instead of FramebufferUpdate"
            for _ in range(rects):
                x, y, w, h, encoding = struct.unpack(">HHHHi", self.read(12))
                assert encoding == 0, f"encoding {encoding}: only Raw was asked for"
                pixels = self.read(w * h * 4)
                img.paste(Image.frombytes("RGB", (w, h), pixels, "raw", "BGRX"), (x, y))
                covered += w * h
        return img

    def close(self):
        self.ws.close()


def refusal(url: str, **kwargs) -> tuple[int, dict]:
    """The HTTP status and error envelope of a refused WebSocket upgrade."""
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(url, subprotocols=["binary"], timeout=10, **kwargs)
    return caught.value.status_code, json.loads(caught.value.resp_body)


@pytest.fixture(scope="module")
def guest(lab):
    with labkit.running_guest(lab, "vnc-console") as iid:
        yield iid


def test_console_shows_the_guests_screen(lab, guest, ecs, algorithm):
    url = vnc_url(ecs, guest)
    match = URL.fullmatch(url)
    assert match and int(match.group(1)) == lab.port, url

    # A plain GET (a browser opening the URL) is not a WebSocket: 426, and the URL is not spent.
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(url.replace("ws://", "http://"), timeout=10)
    assert plain.value.code == 426
    assert json.loads(plain.value.read())["Code"] == "UpgradeRequired"

    rfb = Rfb(url)
    assert rfb.ws.getsubprotocol() == "binary"
    width, height, name = rfb.handshake()
    shot = ecs.get_instance_screenshot(m.GetInstanceScreenshotRequest(
        region_id=REGION, instance_id=guest, wake_up=True)).body
    jpeg = Image.open(io.BytesIO(base64.b64decode(shot.screenshot)))
    assert (width, height) == jpeg.size == (720, 400), (width, height, name)
    screen = rfb.frame(width, height)
    rfb.close()
    assert blue_fraction(screen) > 0.5, f"only {blue_fraction(screen):.1%} of the VNC frame is blue"
    # The same screen as the screenshot's: the same colours to within JPEG's error.
    vnc_mean, jpeg_mean = mean_rgb(screen), mean_rgb(jpeg)
    assert all(abs(a - b) < 12 for a, b in zip(vnc_mean, jpeg_mean)), (vnc_mean, jpeg_mean)

    # Used once: refused from now on.
    status, body = refusal(url)
    assert (status, body["Code"]) == (403, "InvalidVncUrl.Used"), body
    assert body["RequestId"] and "used" in body["Message"]


def close_code(rfb: Rfb) -> int:
    """Read until the server's close frame; its status code."""
    rfb.ws.settimeout(30)
    while True:
        opcode, data = rfb.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack(">H", data[:2])[0]


def test_hostile_messages_end_the_session(lab, guest):
    client = lab.client()
    # A frame announcing 2 MiB (RFB's client messages are tiny): closed with 1009, message too big, as soon as
    # its header is read, before any of its payload is buffered.
    rfb = Rfb(vnc_url(client, guest))
    rfb.handshake()
    rfb.ws.sock.sendall(struct.pack(">BBQ", 0x82, 0x80 | 127, 2 << 20) + b"mask" + b"\x00" * 1024)
    assert close_code(rfb) == 1009
    # Text instead of binary: 1003.
    rfb = Rfb(vnc_url(client, guest))
    rfb.read(12)
    rfb.ws.send("RFB 003.008\n")
    assert close_code(rfb) == 1003
    # The guest's console still serves a new session.
    rfb = Rfb(vnc_url(client, guest))
    assert rfb.handshake()[:2] == (720, 400)
    rfb.close()
    assert "VNC session ended" in lab.log_path.read_text(errors="replace")


def test_a_stopping_vm_closes_the_session(lab, guest):
    client = lab.client()
    rfb = Rfb(vnc_url(client, guest))
    assert rfb.handshake()[:2] == (720, 400)
    client.stop_instance(m.StopInstanceRequest(instance_id=guest, force_stop=True))
    began = time.monotonic()
    assert close_code(rfb) == 1001
    assert time.monotonic() - began < 20
    labkit.wait_status(client, guest, "Stopped", timeout=30)
    err = labkit.sdk_error(client.describe_instance_vnc_url,
                           m.DescribeInstanceVncUrlRequest(region_id=REGION, instance_id=guest))
    assert (err.code, err.status_code) == ("IncorrectInstanceStatus", 403)
    client.start_instance(m.StartInstanceRequest(instance_id=guest))
    labkit.wait_status(client, guest, "Running", timeout=60)


# ---- error codes, on a fake-driver server with a 2-second validity ----------------------------------

@pytest.fixture(scope="module")
def short_lab(prerequisites):
    binary, image = prerequisites
    lab = labkit.start_server(binary, image, driver="fake", name="ecslab-pyvnc",
                              extra_args=["--vnc-url-validity-secs", "2"])
    try:
        yield lab
    finally:
        labkit.stop_server(lab)


@pytest.mark.parametrize("algorithm", [name for name, _ in labkit.ALGORITHMS])
def test_refusals(short_lab, algorithm):
    client = short_lab.client(dict(labkit.ALGORITHMS)[algorithm])
    ask = lambda iid: labkit.sdk_error(client.describe_instance_vnc_url,  # noqa: E731
                                       m.DescribeInstanceVncUrlRequest(region_id=REGION, instance_id=iid))
    err = ask("i-doesnotexist")
    assert (err.code, err.status_code) == ("InvalidInstanceId.NotFound", 404)
    stopped = labkit.create_instance(client, short_lab.image_id)
    err = ask(stopped)
    assert (err.code, err.status_code) == ("IncorrectInstanceStatus", 403)
    err = labkit.sdk_error(labkit.call_action, client, "DescribeInstanceVncUrl", {"RegionId": REGION})
    assert (err.code, err.status_code) == ("MissingParameter", 400)

    headless = labkit.run_instance(client, short_lab.image_id, instance_type="ecs.lab-headless.tiny")
    labkit.wait_status(client, headless, "Running", timeout=30)
    err = ask(headless)
    assert (err.code, err.status_code) == ("NotSupported", 403), "a type without display has no console"

    running = labkit.run_instance(client, short_lab.image_id)
    labkit.wait_status(client, running, "Running", timeout=30)
    url = vnc_url(client, running)
    assert URL.fullmatch(url) and int(URL.fullmatch(url).group(1)) == short_lab.port, url
    # Not connected to within the validity: expired.
    time.sleep(2.5)
    status, body = refusal(url)
    assert (status, body["Code"]) == (403, "InvalidVncUrl.Expired"), body
    # A made-up token, and one that is not even hex.
    status, body = refusal(url[:-40] + "0" * 40)
    assert (status, body["Code"]) == (404, "InvalidVncUrl.NotFound"), body
    status, body = refusal(url[:-40] + "..%2f..%2fadmin")
    assert (status, body["Code"]) == (404, "InvalidVncUrl.NotFound"), body
    # The fake driver has no VNC server: the token is spent, then refused as used.
    url = vnc_url(client, running)
    status, body = refusal(url)
    assert (status, body["Code"]) == (403, "NotSupported"), body
    status, body = refusal(url)
    assert (status, body["Code"]) == (403, "InvalidVncUrl.Used"), body
    # A handshake without the WebSocket version is no upgrade: 426, and the token not spent.
    url = vnc_url(client, running)
    with socket.create_connection(("127.0.0.1", short_lab.port), timeout=10) as s:
        path = url.split(f":{short_lab.port}", 1)[1]
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
        reply = s.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 426 "), reply
    assert "UpgradeRequired" in reply and "Sec-WebSocket-Version" in reply
    status, body = refusal(url)
    assert (status, body["Code"]) == (403, "NotSupported"), body
    # No token appears in full in the log.
    log = short_lab.log_path.read_text(errors="replace")
    assert url[-40:] not in log and url[-40:][:6] in log
