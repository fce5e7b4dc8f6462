"""A real TensorBoard server, and a headless Chromium driven over the DevTools protocol.

Used by tests/test_tensorboard.py and scripts/projector_screenshot.py. Both
helpers are context managers that always stop the process they started.
Chromium is Debian's ``chromium`` package (scripts/install_chromium.sh); nothing
is downloaded.
"""

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from websockets.sync.client import connect

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-proxy-server"]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=30):
    """The body of a GET request (no proxy), as bytes; raises for an HTTP error."""
    with _NO_PROXY.open(url, timeout=timeout) as response:
        return response.read()


def get_json(url, timeout=30):
    return json.loads(http_get(url, timeout))


def wait_for(condition, timeout, what, interval=0.5):
    """Calls ``condition()`` until it returns something true (returned); fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(interval)


def _stop(process, timeout=15):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@contextlib.contextmanager
def tensorboard(logdir, timeout=120):
    """Runs ``tensorboard --logdir=LOGDIR`` on 127.0.0.1 and yields its base URL.

    The OS picks a free port (``--port=0``); the URL is the one TensorBoard
    announces. Ready means the runs are listed; the process is stopped on exit,
    whatever happened.
    """
    with tempfile.TemporaryDirectory(prefix="tensorboard-") as scratch:
        log = os.path.join(scratch, "output.txt")
        with open(log, "w", encoding="utf-8") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}",
                 "--host=127.0.0.1", "--port=0"],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            def announced():
                with open(log, encoding="utf-8", errors="replace") as f:
                    printed = f.read()
                if process.poll() is not None:
                    raise RuntimeError(f"tensorboard exited with {process.returncode}: "
                                       f"{printed[-2000:]}")
                found = re.search(r"TensorBoard \S+ at (http://127\.0\.0\.1:\d+)/", printed)
                return found and found.group(1)

            url = wait_for(announced, timeout, "tensorboard to start")
            wait_for(lambda: get_json(f"{url}/data/runs"), timeout, "tensorboard to list runs")
            yield url
        finally:
            _stop(process)


def chromium_executable():
    """Debian's chromium, or None."""
    return shutil.which("chromium")


class Page:
    """One browser tab, spoken to over the Chrome DevTools Protocol (a websocket)."""

    def __init__(self, websocket, timeout):
        self._websocket = websocket
        self._ids = itertools.count(1)
        self.timeout = timeout

    def call(self, method, **params):
        """Sends a DevTools command and returns its result (events in between are skipped)."""
        message_id = next(self._ids)
        self._websocket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._websocket.recv(timeout=self.timeout))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def screenshot(self):
        """The visible page as PNG bytes."""
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


@contextlib.contextmanager
def chromium(width=1280, height=800, timeout=60):
    """Starts headless Chromium with a fresh profile and yields a Page of ``width`` x ``height``.

    The DevTools endpoint is on a port the browser picks, read from
    ``DevToolsActivePort`` in the profile. The browser is stopped on exit.
    """
    executable = chromium_executable()
    if executable is None:
        raise RuntimeError("chromium is not installed: run scripts/install_chromium.sh "
                           "(Debian's chromium package)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    process = subprocess.Popen(
        [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")

        def port():
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            with contextlib.suppress(FileNotFoundError):
                with open(port_file, encoding="utf-8") as f:
                    return f.read().split("\n", 1)[0].strip()

        endpoint = f"http://127.0.0.1:{wait_for(port, timeout, 'chromium to start')}"
        pages = wait_for(lambda: [target for target in get_json(f"{endpoint}/json/list")
                                  if target["type"] == "page"], timeout, "a browser tab")
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, proxy=None,
                     open_timeout=timeout) as websocket:
            page = Page(websocket, timeout)
            page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
            try:
                yield page
            finally:
                with contextlib.suppress(Exception):  # best effort; it is stopped below anyway
                    page.call("Browser.close")
    finally:
        _stop(process)
        # Chromium's helper processes may still write to the profile for a moment.
        wait_for(lambda: _removed(profile), 30, f"chromium to release {profile}")


def _removed(path):
    """Tries to remove a directory tree; true once it is gone."""
    shutil.rmtree(path, ignore_errors=True)
    return not os.path.exists(path)


# Walks the page, open shadow roots and same-origin iframes (TensorBoard shows
# the projector, a Polymer app, in an iframe) and reports what the projector
# shows: the "Points: N | Dimension: d" line, the points' labels, how many
# points have a PCA position, and the message shown when WebGL is unavailable.
PROJECTOR_STATE_JS = """(() => {
  const elements = [], texts = [];
  const visit = (root) => {
    texts.push(root.textContent || '');
    for (const element of root.querySelectorAll('*')) {
      elements.push(element);
      if (element.shadowRoot) visit(element.shadowRoot);
      if (element.tagName === 'IFRAME' && element.contentDocument) visit(element.contentDocument);
    }
  };
  visit(document);
  const text = (selector) => {
    const found = elements.find((element) => element.matches(selector));
    return found ? found.innerText.trim() : null;
  };
  const projector = elements.find((element) => element.tagName === 'VZ-PROJECTOR');
  const points = projector && projector.dataSet ? projector.dataSet.points : [];
  return {
    points: text('span.numDataPoints'),
    dimension: text('span.dim'),
    labels: points.map((point) => point.metadata.word),
    counts: points.map((point) => point.metadata.count),
    positioned: points.filter((point) => 'pca-0' in point.projections).length,
    webgl_disabled: texts.some((t) => t.includes('does not have WebGL enabled')),
  };
})()"""


def projector_state(page):
    """What the projector page shows (see PROJECTOR_STATE_JS), as a dict."""
    return page.evaluate(PROJECTOR_STATE_JS)
