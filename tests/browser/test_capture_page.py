"""The reference capture page (capture-page.md) in headless Chromium, against `biosign serve`.

Pointer input goes through the DevTools protocol, so the page receives real PointerEvents of the
type under test (pen with pressure and tilt, touch, mouse) at the times the test gives them.
"""

import base64
import hashlib
import json
import math
import os
import re
import shutil
import struct
import time
import uuid

import pytest
from playwright.sync_api import expect

from conftest import ROOT

SAMPLE_INTERVAL_MS = 8  # a 125 Hz digitizer
PEN_UP_GAP_MS = 90


class Pointer:
    """Strokes through the DevTools protocol. Records every sample dispatched while down, in the
    canvas's CSS px, as the page should capture it."""

    def __init__(self, page, pointer_type="pen", start_ms=None):
        self.page = page
        self.pointer_type = pointer_type
        self.cdp = page.context.new_cdp_session(page)
        # The protocol's event times are wall-clock seconds; the page sees them as timeStamp.
        self.clock_ms = start_ms if start_ms is not None else time.time() * 1000
        self.dispatched = []  # one list of samples per stroke

    def box(self):
        """The drawing area in viewport px, scrolled into view (input lands only on what is shown)."""
        pad = self.page.locator("#signature")
        pad.scroll_into_view_if_needed()
        return pad.bounding_box()

    def stroke(self, points, interval_ms=SAMPLE_INTERVAL_MS):
        """points: (x, y, force, tilt_x, tilt_y) within the canvas."""
        box = self.box()
        samples = []
        for i, (x, y, force, tilt_x, tilt_y) in enumerate(points):
            kind = "mousePressed" if i == 0 else "mouseMoved"
            self.mouse(kind, box["x"] + x, box["y"] + y, force, tilt_x, tilt_y, buttons=1)
            samples.append({"t": self.clock_ms, "x": x, "y": y, "p": force, "tx": tilt_x, "ty": tilt_y})
            self.clock_ms += interval_ms
        x, y = points[-1][:2]
        self.mouse("mouseReleased", box["x"] + x, box["y"] + y, 0, 0, 0, buttons=0)
        self.clock_ms += PEN_UP_GAP_MS
        self.dispatched.append(samples)

    def mouse(self, kind, x, y, force, tilt_x, tilt_y, buttons):
        self.cdp.send(
            "Input.dispatchMouseEvent",
            {
                "type": kind,
                "x": x,
                "y": y,
                "button": "left",
                "buttons": buttons,
                "clickCount": 1,
                "pointerType": self.pointer_type,
                "force": force,
                "tiltX": tilt_x,
                "tiltY": tilt_y,
                "timestamp": self.clock_ms / 1000,
            },
        )

    def touch(self, kind, points):
        """points: (id, x, y, radius) in the canvas. touchStart and touchMove list every point
        down; touchEnd lists the points lifted (none: all of them)."""
        box = self.box()
        self.cdp.send(
            "Input.dispatchTouchEvent",
            {
                "type": kind,
                "touchPoints": [
                    {"id": i, "x": box["x"] + x, "y": box["y"] + y, "radiusX": r, "radiusY": r, "force": 1}
                    for i, x, y, r in points
                ],
                "timestamp": self.clock_ms / 1000,
            },
        )
        self.clock_ms += SAMPLE_INTERVAL_MS

    @property
    def sample_count(self):
        return sum(len(stroke) for stroke in self.dispatched)


def signature_strokes(width, height, samples_per_stroke=32):
    """Three strokes that look like handwriting, with varying pressure and tilt."""
    strokes = []
    for k in range(3):
        points = []
        n = samples_per_stroke + 6 * k
        for i in range(n):
            u = i / (n - 1)
            x = width * (0.08 + 0.28 * k + 0.24 * u) + 10 * math.sin(u * 9)
            y = height * (0.45 + 0.22 * math.sin(u * math.pi * (2 + k)) - 0.1 * math.cos(u * 7))
            force = round(0.2 + 0.6 * abs(math.sin(u * math.pi * 1.5)), 3)
            points.append((round(x, 1), round(y, 1), force, round(25 * math.cos(u * 3)), round(-12 + 20 * u)))
        strokes.append(points)
    return strokes


def open_sign(page, biosign, org, sign_id, token=None):
    page.goto(biosign.link(org, sign_id, token or biosign.token(org, sign_id)))


def open_for_signing(page, biosign, org="acme", sign_id=None):
    """A fresh sign that needs a preview, opened and confirmed as read. Returns its id and token."""
    sign_id = sign_id or biosign.create_sign(org, "--preview-document", str(uuid.uuid4()))
    token = biosign.token(org, sign_id)
    open_sign(page, biosign, org, sign_id, token)
    expect(page.locator("#status")).to_contain_text("Read the documents")
    expect(page.locator("#sign")).to_be_disabled()
    expect(page.locator("#preview")).to_be_enabled()
    page.click("#preview")
    expect(page.locator("#status")).to_contain_text("Now sign")
    expect(page.locator("#sign")).to_be_enabled()
    return sign_id, token


def sent_capture(request):
    body = request.post_data_json
    raw = base64.b64decode(body["biometric_data"], validate=True)
    return body, raw, json.loads(raw)


def png_size(data_url):
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    png = base64.b64decode(data_url[len(prefix):], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return png, struct.unpack(">II", png[16:24])


def samples_in(capture):
    return sum(len(stroke["t"]) for stroke in capture["strokes"])


def test_the_link_serve_prints_opens_its_demo_sign(served, new_page):
    biosign, output = served
    link = re.search(r"(http://\S+/capture/#\S+)", output.read_text()).group(1)
    page, recorder = new_page()
    page.goto(link)
    expect(page.locator("#status")).to_contain_text("Read the documents")
    expect(page.locator("#signer-name")).to_have_text("James Smith")
    expect(page.locator("#documents li")).to_have_count(1)
    expect(page.locator("#expires")).not_to_be_empty()
    # The token travelled in the fragment: no request line or Referer carried it.
    token = link.split("token=")[1]
    for request in recorder.requests:
        assert token not in request.url
        assert token not in (request.headers.get("referer") or "")


def test_a_pen_signature_is_sent_raw_and_signed(biosign, new_page, artifacts):
    page, recorder = new_page(viewport={"width": 800, "height": 1000})
    sign_id, token = open_for_signing(page, biosign)

    preview = recorder.api_calls("/preview")
    assert len(preview) == 1
    device = preview[0].headers
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", device["x-installation_id"])
    assert device["x-installation_id"] == page.evaluate("localStorage.getItem('biosign.installation_id')")
    assert re.fullmatch(r"[0-9a-f]{32}", device["x-fingerprint"])
    assert "x-location" not in device  # the signer did not allow it

    pen = Pointer(page, "pen")
    box_before = pen.box()
    for points in signature_strokes(box_before["width"], box_before["height"]):
        pen.stroke(points)
    assert pen.box() == box_before, "the drawing area moved while drawing"
    assert int(page.get_attribute("#signature", "data-samples")) == pen.sample_count
    page.screenshot(path=str(artifacts / "capture-before-sign.png"), full_page=True)

    page.click("#sign")
    expect(page.locator("#status")).to_contain_text("Signed")
    page.screenshot(path=str(artifacts / "capture-after-sign.png"), full_page=True)
    if os.environ.get("BIOSIGN_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(artifacts / "capture-after-sign.png", ROOT / "docs" / "capture-page.png")

    [sign_request] = recorder.api_calls("/sign")
    assert sign_request.headers["x-installation_id"] == device["x-installation_id"]
    assert sign_request.headers["x-fingerprint"] == device["x-fingerprint"]
    body, raw, capture = sent_capture(sign_request)

    # Every dispatched sample arrived, each as it was dispatched: raw, not smoothed.
    assert capture["format"] == "sigdata/1"
    assert capture["capture"]["pointer_type"] == "pen"
    assert capture["capture"]["width"] == box_before["width"]
    assert capture["capture"]["height"] == box_before["height"]
    assert capture["capture"]["device_pixel_ratio"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", capture["capture"]["started_at"])
    assert samples_in(capture) == pen.sample_count
    assert len(capture["strokes"]) == len(pen.dispatched)
    t0 = pen.dispatched[0][0]["t"]
    for stroke, expected in zip(capture["strokes"], pen.dispatched):
        assert set(stroke) == {"t", "x", "y", "p", "tilt_x", "tilt_y"}
        for i, sample in enumerate(expected):
            assert stroke["t"][i] == pytest.approx(sample["t"] - t0, abs=0.2)
            assert stroke["x"][i] == pytest.approx(sample["x"], abs=0.01)
            assert stroke["y"][i] == pytest.approx(sample["y"], abs=0.01)
            assert stroke["p"][i] == pytest.approx(sample["p"], abs=1e-4)
            assert stroke["tilt_x"][i] == sample["tx"]
            assert stroke["tilt_y"][i] == sample["ty"]

    # What the service stored is what was sent.
    png, (png_width, png_height) = png_size(body["signature_image"])
    assert (png_width, png_height) == (round(box_before["width"] * 2), round(box_before["height"] * 2))
    sign = biosign.get("acme", sign_id, token)
    assert sign["status"] == "SIGNED"
    signature = sign["signature"]
    assert signature["biometric_data_sha256"] == hashlib.sha256(raw).hexdigest()
    assert signature["image_sha256"] == hashlib.sha256(png).hexdigest()
    assert (signature["image_format"], signature["image_width"], signature["image_height"]) == ("png", png_width, png_height)
    biometric = signature["biometric"]
    assert biometric["format"] == "sigdata/1"
    assert biometric["pointer_type"] == "pen"
    assert biometric["pressure"] is True
    assert biometric["samples"] == pen.sample_count
    assert biometric["strokes"] == len(pen.dispatched)

    # The receipt shows the evidence chain's head when the API gives one, else the digests.
    receipt = page.locator("#receipt").inner_text()
    # GET's receipt: the chain head of the PREVIEW and SIGN events.
    evidence = sign["evidence"]
    assert evidence["events"] == 2
    assert evidence["chain_sha256"] in receipt

    # The evidence events carry the device the page reported.
    events = json.loads(biosign.cli("show-sign", "--org", "acme", "--sign-id", sign_id))["events"]
    device_events = [e for e in events if e["event_type"] in ("PREVIEW", "SIGN")]
    assert [e["event_type"] for e in device_events] == ["PREVIEW", "SIGN"]
    # An absent value is left out of an event (docs/evidence.md), never written as null.
    devices = {(e["installation_id"], e["fingerprint"], e.get("location")) for e in device_events}
    assert devices == {(device["x-installation_id"], device["x-fingerprint"], None)}, events

    # Signed is final in the page too.
    for control in ("#sign", "#clear", "#preview"):
        expect(page.locator(control)).to_be_disabled()


def test_samples_merged_between_frames_are_all_kept(biosign, new_page):
    """A browser delivers one pointermove per frame and keeps the device's other samples in
    getCoalescedEvents(). The protocol's input above arrives one event at a time, so this stroke
    is dispatched in the page: one move carrying six merged samples."""
    page, recorder = new_page()
    open_for_signing(page, biosign)
    merged = [(12 + 9 * i, 20 + 4 * i, round(0.2 + 0.1 * i, 2)) for i in range(6)]
    page.evaluate("""(merged) => {
      const pad = document.getElementById('signature');
      const box = pad.getBoundingClientRect();
      const init = (x, y, pressure) => ({ pointerId: 71, pointerType: 'pen', isPrimary: true, bubbles: true,
        cancelable: true, clientX: box.left + x, clientY: box.top + y, pressure, buttons: 1 });
      pad.dispatchEvent(new PointerEvent('pointerdown', init(10, 18, 0.1)));
      const coalescedEvents = merged.map(([x, y, p]) => new PointerEvent('pointermove', init(x, y, p)));
      const [x, y, p] = merged.at(-1);
      pad.dispatchEvent(new PointerEvent('pointermove', { ...init(x, y, p), coalescedEvents }));
      pad.dispatchEvent(new PointerEvent('pointerup', { ...init(x, y, 0), buttons: 0 }));
    }""", merged)
    expect(page.locator("#signature")).to_have_attribute("data-samples", "7")
    pen = Pointer(page, "pen")
    box = pen.box()
    for points in signature_strokes(box["width"], box["height"]):
        pen.stroke(points)
    page.click("#sign")
    expect(page.locator("#status")).to_contain_text("Signed")
    _, _, capture = sent_capture(recorder.api_calls("/sign")[0])
    first = capture["strokes"][0]
    assert list(zip(first["x"], first["y"], first["p"])) == [(10, 18, 0.1), *merged]
    assert samples_in(capture) == 7 + pen.sample_count


def test_a_mouse_signature_carries_no_pressure(biosign, new_page):
    page, recorder = new_page()
    sign_id, token = open_for_signing(page, biosign)
    mouse = Pointer(page, "mouse")
    box = mouse.box()
    for points in signature_strokes(box["width"], box["height"]):
        mouse.stroke(points)
    page.click("#sign")
    expect(page.locator("#status")).to_contain_text("Signed")

    _, _, capture = sent_capture(recorder.api_calls("/sign")[0])
    assert capture["capture"]["pointer_type"] == "mouse"
    assert samples_in(capture) == mouse.sample_count
    for stroke in capture["strokes"]:
        assert set(stroke) == {"t", "x", "y"}  # the mouse's 0.5 is no pressure; no tilt
    sign = biosign.get("acme", sign_id, token)
    assert sign["status"] == "SIGNED"
    biometric = sign["signature"]["biometric"]
    assert (biometric["pointer_type"], biometric["pressure"]) == ("mouse", False)
    assert biometric["samples"] == mouse.sample_count


def test_a_finger_signature_on_a_phone_ignores_a_second_finger_and_a_palm(biosign, new_page):
    page, recorder = new_page(viewport={"width": 320, "height": 640}, has_touch=True, is_mobile=True, device_scale_factor=2)
    sign_id, token = open_for_signing(page, biosign)
    finger = Pointer(page, "touch")
    box = finger.box()
    assert box["width"] >= 250
    # A palm lands first and stays: its contact is too large to be a fingertip.
    finger.touch("touchStart", [(5, box["width"] - 30, box["height"] - 20, 45)])
    kept = []
    for k, points in enumerate(signature_strokes(box["width"], box["height"])):
        for i, (x, y, *_rest) in enumerate(points):
            palm = (5, box["width"] - 30, box["height"] - 20, 45)
            fingers = [palm, (k, x, y, 4)]
            if i > 3:
                # A second finger joins halfway: ignored, the first one keeps drawing.
                fingers.append((9, box["width"] - 60, 10 + i, 4))
            finger.touch("touchStart" if i == 0 else "touchMove", fingers)
            kept.append((x, y))
        finger.touch("touchEnd", [f for f in fingers if f is not palm])  # the palm stays
    finger.touch("touchEnd", [])
    assert int(page.get_attribute("#signature", "data-samples")) == len(kept)

    page.click("#sign")
    expect(page.locator("#status")).to_contain_text("Signed")
    _, _, capture = sent_capture(recorder.api_calls("/sign")[0])
    assert capture["capture"]["pointer_type"] == "touch"
    assert capture["capture"]["device_pixel_ratio"] == 2
    assert len(capture["strokes"]) == 3
    xs = [x for stroke in capture["strokes"] for x in stroke["x"]]
    ys = [y for stroke in capture["strokes"] for y in stroke["y"]]
    assert [(round(x, 1), round(y, 1)) for x, y in zip(xs, ys)] == kept
    # The touch screen reported the same force throughout: that is no pressure.
    assert all("p" not in stroke for stroke in capture["strokes"])
    assert biosign.get("acme", sign_id, token)["status"] == "SIGNED"


def test_a_pen_replaces_touches_made_before_it(biosign, new_page):
    page, recorder = new_page(has_touch=True)
    open_for_signing(page, biosign)
    hand = Pointer(page, "touch")
    hand.touch("touchStart", [(1, 40, 40, 4)])
    hand.touch("touchMove", [(1, 60, 50, 4)])
    hand.touch("touchEnd", [])
    pen = Pointer(page, "pen", start_ms=hand.clock_ms + 100)
    box = pen.box()
    for points in signature_strokes(box["width"], box["height"]):
        pen.stroke(points)
    # A touch while the capture is a pen's (a resting palm) draws nothing.
    hand.clock_ms = pen.clock_ms
    hand.touch("touchStart", [(2, 100, 100, 4)])
    hand.touch("touchMove", [(2, 120, 110, 4)])
    hand.touch("touchEnd", [])
    page.click("#sign")
    expect(page.locator("#status")).to_contain_text("Signed")
    _, _, capture = sent_capture(recorder.api_calls("/sign")[0])
    assert capture["capture"]["pointer_type"] == "pen"
    assert samples_in(capture) == pen.sample_count


def test_a_dot_or_a_scribble_is_refused_in_the_page(biosign, new_page):
    page, recorder = new_page()
    sign_id, token = open_for_signing(page, biosign)
    status = page.locator("#status")

    page.click("#sign")
    expect(status).to_contain_text("Please sign in the box first")

    pen = Pointer(page, "pen")
    pen.stroke([(100, 100, 0.5, 0, 0)])  # a dot
    page.click("#sign")
    expect(status).to_contain_text("too small to be a signature")

    page.click("#clear")
    expect(page.locator("#signature")).to_have_attribute("data-samples", "0")
    pen.stroke([(100 + 3 * i, 100 + i, 0.5, 0, 0) for i in range(10)])  # 10 samples
    page.click("#sign")
    expect(status).to_contain_text("too small to be a signature")

    page.click("#clear")
    # 25 samples over 96 ms: enough points, far too fast for a hand.
    pen.stroke([(50 + 8 * i, 80 + 2 * i, 0.5, 0, 0) for i in range(25)], interval_ms=4)
    page.click("#sign")
    expect(status).to_contain_text("too quick to be a signature")

    page.click("#clear")
    # Samples 60 ms apart: a median interval over 50 ms.
    pen.stroke([(50 + 8 * i, 80 + 2 * i, 0.5, 0, 0) for i in range(25)], interval_ms=60)
    page.click("#sign")
    expect(status).to_contain_text("Too few points")

    expect(page.locator("#sign")).to_be_enabled()
    assert recorder.api_calls("/sign") == []
    assert biosign.get("acme", sign_id, token)["status"] == "PREVIEWED"


def valid_sigdata():
    return {
        "format": "sigdata/1",
        "capture": {"width": 400, "height": 200, "pointer_type": "pen"},
        "strokes": [{
            "t": [8 * i for i in range(40)],
            "x": [20 + 5 * i for i in range(40)],
            "y": [100 + 30 * math.sin(i / 4) for i in range(40)],
            "p": [0.3 + i / 100 for i in range(40)],
        }],
    }


def sign_over_http(biosign, org, sign_id, token):
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
    body = json.dumps({
        "biometric_data": base64.b64encode(json.dumps(valid_sigdata()).encode()).decode(),
        "signature_image": base64.b64encode(png).decode(),
    }).encode()
    headers = {"x-installation_id": "test-installation", "x-fingerprint": "0" * 32, "Content-Type": "application/json"}
    status, answer = biosign.call("POST", org, sign_id, token, "/sign", headers, body)
    assert status == 204, answer


@pytest.mark.parametrize("state, message", [
    ("expired", "has expired"),
    ("cancelled", "was cancelled"),
    ("signed", "is already signed"),
    ("unknown", "was not found"),
])
def test_a_sign_that_cannot_be_signed_says_why(biosign, new_page, state, message):
    if state == "expired":
        sign_id = biosign.create_sign("acme", "--expires-in", "-PT1M")
    elif state == "cancelled":
        sign_id = biosign.create_sign("acme")
        biosign.cli("cancel-sign", "--org", "acme", "--sign-id", sign_id)
    elif state == "signed":
        sign_id = biosign.create_sign("acme")  # nothing to preview: signable at once
        sign_over_http(biosign, "acme", sign_id, biosign.token("acme", sign_id))
    else:
        sign_id = str(uuid.uuid4())
    page, recorder = new_page()
    open_sign(page, biosign, "acme", sign_id, biosign.token("acme"))
    expect(page.locator("#status")).to_contain_text(message)
    for control in ("#preview", "#sign"):
        expect(page.locator(control)).to_be_disabled()
    expect(page.locator("#signature")).to_be_hidden()
    if state == "signed":
        expect(page.locator("#receipt")).to_be_visible()
    assert [r.method for r in recorder.api_calls()] == ["GET"]


def test_an_incomplete_link_says_so(biosign, new_page):
    page, recorder = new_page()
    page.goto(f"{biosign.base_url}/capture/#org=acme&sign={uuid.uuid4()}")
    expect(page.locator("#status")).to_contain_text("This link is incomplete")
    assert recorder.api_calls() == []


def test_a_failed_send_is_retried_with_the_same_signature(biosign, new_page):
    page, recorder = new_page()
    sign_id, token = open_for_signing(page, biosign)
    failures = []

    def fail_once(route):
        if failures:
            route.continue_()
            return
        failures.append(route.request.post_data)
        route.fulfill(status=503, content_type="application/json", body=json.dumps(
            {"errors": [{"code": "MDOC_001", "title": "INTERNAL_SERVER_ERROR", "ref": "x", "details": "internal error"}]}))

    page.route("**/sign", fail_once)
    pen = Pointer(page, "pen")
    box = pen.box()
    for points in signature_strokes(box["width"], box["height"]):
        pen.stroke(points)
    page.click("#sign")
    expect(page.locator("#status")).to_contain_text("had a problem")
    expect(page.locator("#retry")).to_be_visible()
    page.click("#retry")
    expect(page.locator("#status")).to_contain_text("Signed")
    expect(page.locator("#retry")).to_be_hidden()
    sends = recorder.api_calls("/sign")
    assert len(sends) == 2 and sends[0].post_data == sends[1].post_data == failures[0]
    assert biosign.get("acme", sign_id, token)["status"] == "SIGNED"


def test_a_refusal_of_the_service_is_said_in_words_and_signing_stays_open(biosign, new_page):
    page, recorder = new_page()
    open_for_signing(page, biosign)
    page.route("**/sign", lambda route: route.fulfill(status=422, content_type="application/json", body=json.dumps(
        {"errors": [{"code": "MDOC_002", "title": "UNPROCESSABLE_ENTITY", "ref": "x",
                     "details": "biometric_data: ink extent 4 px (at least 10 needed)"}]})))
    pen = Pointer(page, "pen")
    box = pen.box()
    for points in signature_strokes(box["width"], box["height"]):
        pen.stroke(points)
    page.click("#sign")
    expect(page.locator("#status")).to_contain_text("too small to be a signature")
    expect(page.locator("#technical")).to_contain_text("ink extent 4 px")
    expect(page.locator("#retry")).to_be_hidden()
    expect(page.locator("#sign")).to_be_enabled()
    expect(page.locator("#clear")).to_be_enabled()


@pytest.mark.parametrize("width, height", [(320, 640), (768, 1024), (1024, 768), (640, 360)])
def test_the_page_fits_phones_and_tablets_either_way_round(biosign, new_page, width, height):
    page, _ = new_page(viewport={"width": width, "height": height}, has_touch=True)
    open_for_signing(page, biosign)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"horizontal scroll at {width} px: {scroll_width}"
    box = page.locator("#signature").bounding_box()
    assert box["width"] >= 250 and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert box["height"] >= 150
    touch_action = page.evaluate("""() => [...document.querySelectorAll('*')]
        .filter(e => getComputedStyle(e).touchAction !== 'auto').map(e => e.id)""")
    assert touch_action == ["signature"]


def test_every_control_is_reachable_by_keyboard_and_labelled(biosign, new_page):
    page, _ = new_page()
    sign_id = biosign.create_sign("acme", "--preview-document", str(uuid.uuid4()))
    open_sign(page, biosign, "acme", sign_id)
    expect(page.locator("#preview")).to_be_enabled()

    def tab_to(element_id):
        for _ in range(12):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == element_id:
                return
        pytest.fail(f"#{element_id} cannot be reached with Tab")

    tab_to("share-location")
    tab_to("preview")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Now sign")
    tab_to("clear")
    tab_to("sign")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Please sign in the box first")
    for control in ("#preview", "#clear", "#sign", "#share-location", "#signature"):
        expect(page.locator(control)).to_have_accessible_name(re.compile(r"\w"))


def test_the_location_is_sent_only_once_the_signer_allows_it(biosign, new_page):
    page, recorder = new_page(geolocation={"latitude": 40.4168, "longitude": -3.7038}, permissions=["geolocation"])
    sign_id = biosign.create_sign("acme", "--preview-document", str(uuid.uuid4()))
    open_sign(page, biosign, "acme", sign_id)
    expect(page.locator("#preview")).to_be_enabled()
    page.check("#share-location")
    expect(page.locator("#location-state")).to_have_text("Location found.")
    page.click("#preview")
    expect(page.locator("#status")).to_contain_text("Now sign")
    assert recorder.api_calls("/preview")[0].headers["x-location"] == "40.41680,-3.70380"
    events = json.loads(biosign.cli("show-sign", "--org", "acme", "--sign-id", sign_id))["events"]
    [preview] = [e for e in events if e["event_type"] == "PREVIEW"]
    # Events hold degrees × 10^7 as integers (docs/evidence.md: numbers any JSON tool reproduces).
    assert preview["location"] == {"lat_e7": 404168000, "lon_e7": -37038000}, events


def test_a_rotation_while_signing_keeps_one_coordinate_frame(biosign, new_page):
    page, recorder = new_page(viewport={"width": 400, "height": 740}, has_touch=True)
    open_for_signing(page, biosign)
    pen = Pointer(page, "pen")
    frame = pen.box()
    first, second, _ = signature_strokes(frame["width"], frame["height"])
    pen.stroke(first)
    page.set_viewport_size({"width": 740, "height": 400})
    rotated = pen.box()
    assert rotated["width"] != frame["width"]
    # Drawn in the rotated box's own px; the page maps them back into the first frame.
    pen.stroke([(x * rotated["width"] / frame["width"], y * rotated["height"] / frame["height"], *rest)
                for x, y, *rest in second])
    page.click("#sign")
    expect(page.locator("#status")).to_contain_text("Signed")
    _, _, capture = sent_capture(recorder.api_calls("/sign")[0])
    assert (capture["capture"]["width"], capture["capture"]["height"]) == (frame["width"], frame["height"])
    sent_second = list(zip(capture["strokes"][1]["x"], capture["strokes"][1]["y"]))
    for (x, y), (ex, ey, *_rest) in zip(sent_second, second):
        assert x == pytest.approx(ex, abs=0.05) and y == pytest.approx(ey, abs=0.05)


def test_the_quality_rules_and_the_format_at_their_bounds(biosign, new_page):
    """The page's own modules, at the bounds of biometric-data.md."""
    page, _ = new_page()
    page.goto(f"{biosign.base_url}/capture/")
    results = page.evaluate("""async () => {
      const { buildSigdata, checkQuality } = await import('./sigdata.js');
      const { sha256 } = await import('./device.js');
      // n samples, `step` ms apart, spread over `extent` px.
      const line = (n, step, extent, extra = {}) => Array.from({ length: n }, (_, i) => (
        { t: 100 + i * step, x: 5 + extent * i / (n - 1), y: 5, p: 0.5, tiltX: 0, tiltY: 0, ...extra }));
      const capture = (strokes, pointerType = 'pen') =>
        buildSigdata({ width: 300, height: 150, pointerType, devicePixelRatio: 1, strokes });
      const rule = (strokes) => checkQuality(capture(strokes))?.rule ?? 'ok';
      const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
      const digests = [];
      for (const text of ['', 'abc', 'x'.repeat(55), 'x'.repeat(56), 'é'.repeat(200)]) {
        const bytes = new TextEncoder().encode(text);
        digests.push(hex(sha256(bytes)) === hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))));
      }
      const touchVarying = capture([line(20, 12, 50).map((s, i) => ({ ...s, p: i / 40 }))], 'touch');
      const touchConstant = capture([line(20, 12, 50)], 'touch');
      const mouse = capture([line(20, 12, 50)], 'mouse');
      const outside = capture([[{ t: 5, x: -3, y: 400, p: 2, tiltX: 95, tiltY: -91 }]]);
      const backwards = capture([[{ t: 10, x: 1, y: 1 }, { t: 9.99, x: 1, y: 1 }], [{ t: 5, x: 1, y: 1 }]], 'mouse');
      return {
        ok: rule([line(20, 200 / 19, 10)]),
        samples19: rule([line(19, 20, 50)]),
        extent: rule([line(20, 20, 9.99)]),
        duration199: rule([line(20, 199 / 19, 50)]),
        duration200: rule([line(20, 200 / 19, 50)]),
        durationOver: rule([line(20, 120001 / 19, 50)]),
        median50: rule([line(10, 50, 50), line(10, 50, 50).map((s) => ({ ...s, t: s.t + 1000 }))]),
        median51: rule([line(25, 51, 50)]),
        onlyDots: rule(Array.from({ length: 25 }, (_, i) => [{ t: i * 10, x: i, y: i, p: 0.5 }])),
        strokes201: rule(Array.from({ length: 201 }, (_, i) => line(2, 10, 20).map((s) => ({ ...s, t: s.t + i * 20 })))),
        empty: rule([]),
        digests,
        touchVarying: 'p' in touchVarying.strokes[0],
        touchConstant: 'p' in touchConstant.strokes[0],
        mouse: Object.keys(mouse.strokes[0]).sort(),
        outside: outside.strokes[0],
        backwards: backwards.strokes.map((s) => s.t),
      };
    }""")
    assert results["ok"] == "ok"
    assert results["samples19"] == "too small"
    assert results["extent"] == "too small"
    assert results["duration199"] == "too quick"
    assert results["duration200"] == "ok"
    assert results["durationOver"] == "too long"
    assert results["median50"] == "ok"
    assert results["median51"] == "sampling"
    assert results["onlyDots"] == "sampling"
    assert results["strokes201"] == "strokes"
    assert results["empty"] == "empty"
    assert results["digests"] == [True] * 5
    assert results["touchVarying"] is True and results["touchConstant"] is False
    assert results["mouse"] == ["t", "x", "y"]
    assert results["outside"] == {"t": [0], "x": [0], "y": [150], "p": [1], "tilt_x": [90], "tilt_y": [-90]}
    assert results["backwards"] == [[0, 0], [0]]
