"""Fixtures of the browser tests: a `biosign serve` on a temporary store, the `biosign` CLI
against that store, and headless Chromium (Debian's package) driven by Playwright.

Environment:
  BIOSIGN_BIN         the biosign binary (default: `cargo build -p biosign`, then target/debug)
  CHROMIUM            the browser (default /usr/bin/chromium)
  BIOSIGN_BROWSER_ARTIFACTS  where screenshots go (default target/browser)
  BIOSIGN_DOCS_SCREENSHOT=1  also refresh docs/capture-page.png
"""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("BIOSIGN_BROWSER_ARTIFACTS", ROOT / "target" / "browser"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Biosign:
    """The CLI on the served store, and plain HTTP calls to the API."""

    def __init__(self, binary, data_dir, base_url):
        self.binary = binary
        self.data_dir = data_dir
        self.base_url = base_url

    def cli(self, *args):
        result = subprocess.run(
            [self.binary, "--data-dir", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"biosign {' '.join(args)}: {result.stderr}"
        return result.stdout

    def create_sign(self, org="acme", *options):
        return json.loads(self.cli("create-sign", "--org", org, *options))["sign_id"]

    def token(self, org="acme", sign_id=None):
        args = ["token", "--org", org, "--expires-in", "PT1H"]
        if sign_id:
            args += ["--sign-id", sign_id]
        return self.cli(*args).strip()

    def link(self, org, sign_id, token):
        return f"{self.base_url}/capture/#org={org}&sign={sign_id}&token={token}"

    def call(self, method, org, sign_id, token, suffix="", headers=None, body=None):
        url = f"{self.base_url}/v1/orgs/{org}/biometric_signs/{sign_id}{suffix}"
        request = urllib.request.Request(url, method=method, data=body)
        request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def get(self, org, sign_id, token):
        status, body = self.call("GET", org, sign_id, token)
        assert status == 200, body
        return body


@pytest.fixture(scope="session")
def biosign_bin():
    binary = os.environ.get("BIOSIGN_BIN")
    if not binary:
        subprocess.run(["cargo", "build", "--quiet", "-p", "biosign"], cwd=ROOT, check=True)
        binary = str(ROOT / "target" / "debug" / "biosign")
    assert os.access(binary, os.X_OK), f"no biosign binary at {binary}"
    return binary


@pytest.fixture(scope="session")
def served(biosign_bin, tmp_path_factory):
    """`biosign serve` on a fresh embedded store; yields (Biosign, what serve printed)."""
    data_dir = tmp_path_factory.mktemp("biosign-data")
    port = free_port()
    out_path = data_dir / "serve.out"
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_JWKS", "JWT_ISSUER")}
    with open(out_path, "w") as out:
        server = subprocess.Popen(
            [biosign_bin, "--data-dir", str(data_dir), "serve", "--addr", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.1)
        else:
            pytest.fail("biosign serve did not start")
        assert server.poll() is None, out_path.read_text()
        yield Biosign(biosign_bin, data_dir, f"http://127.0.0.1:{port}"), out_path
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def biosign(served):
    return served[0]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        yield chromium
        chromium.close()


class Recorder:
    """What a page sent and what went wrong in it."""

    def __init__(self, page):
        self.requests = []
        self.errors = []
        page.on("request", lambda request: self.requests.append(request))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self.console)

    def console(self, message):
        # A refused API call is logged by the browser; the tests check those answers themselves.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def api_calls(self, suffix=None):
        calls = [r for r in self.requests if "/v1/orgs/" in r.url]
        if suffix is None:
            return calls
        return [r for r in calls if r.url.endswith(suffix) and r.method == "POST"]


@pytest.fixture
def new_page(browser):
    """Opens pages in fresh contexts; after the test, no page may have logged an error (a CSP
    violation, a failed module load, an exception)."""
    opened = []

    def open_page(**context_options):
        context_options.setdefault("viewport", {"width": 800, "height": 900})
        context = browser.new_context(**context_options)
        page = context.new_page()
        recorder = Recorder(page)
        opened.append((context, recorder))
        return page, recorder

    yield open_page
    for context, recorder in opened:
        context.close()
    for _, recorder in opened:
        assert recorder.errors == [], recorder.errors


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
