"""A real headless Chromium for the tests, driven over the Chrome DevTools Protocol.

``async with Chromium(workdir) as browser:`` starts ``chromium --headless=new``
with a fresh profile, on a DevTools port of its own choosing (read from the
profile's ``DevToolsActivePort``), and connects to it with ``websockets``;
leaving the block stops Chromium and removes the profile. ``await
browser.page()`` opens a tab that is offline before it navigates anywhere and
records, from then on, every request it makes and every console error and
uncaught exception; ``await page.load(url)`` navigates and waits for the load
event; ``evaluate`` reads the DOM; ``screenshot`` writes a PNG and ``pdf``
the page as printed.

``--no-sandbox``: Chromium's sandbox refuses to run as root, which the test
machines are.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import websockets

TIMEOUT = 30.0


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools command failed."""


class Page:
    """One tab over a flattened DevTools session of the browser's connection."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session
        self.requests: list[str] = []  # the URL of each request, in order
        self.errors: list[str] = []  # console errors, exceptions, error log entries
        self.loaded = asyncio.Event()
        self.allow: str | None = None  # the URL prefix let through, if not offline

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session)

    def event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            self.errors.append("console: " + " ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append("exception: " + str(details.get("exception", {}).get(
                "description", details.get("text"))))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".rstrip())
        elif method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Fetch.requestPaused":  # only with ``allow``: see Chromium.page
            self.browser.later(self._let_through(params))

    async def _let_through(self, params: dict[str, Any]) -> None:
        """A paused request goes on if it is under the page's ``allow`` prefix, else fails."""
        if self.allow is not None and params["request"]["url"].startswith(self.allow):
            await self.send("Fetch.continueRequest", requestId=params["requestId"])
        else:
            await self.send("Fetch.failRequest", requestId=params["requestId"],
                            errorReason="BlockedByClient")

    async def load(self, url: str) -> None:
        """Navigate to ``url`` and wait for its load event."""
        self.loaded.clear()
        answer = await self.send("Page.navigate", url=url)
        if answer.get("errorText"):
            raise BrowserError(f"navigating to {url}: {answer['errorText']}")
        await asyncio.wait_for(self.loaded.wait(), TIMEOUT)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript ``expression`` in the page (JSON-like)."""
        answer = await self.send("Runtime.evaluate", expression=expression,
                                 returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression[:60]}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the window), written to ``path``."""
        answer = await self.send("Page.captureScreenshot", format="png",
                                 captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(answer["data"]))
        return path


    async def media(self, kind: str) -> None:
        """Style the page for ``kind`` media (``print``, ``screen``)."""
        await self.send("Emulation.setEmulatedMedia", media=kind)

    async def pdf(self, path: Path, width: float, height: float) -> Path:
        """The page printed (its print styles) on paper of ``width`` x ``height``
        inches, colours and backgrounds as printed, written to ``path``."""
        answer = await self.send("Page.printToPDF", paperWidth=width, paperHeight=height,
                                 printBackground=False, preferCSSPageSize=False)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(answer["data"]))
        return path


class Chromium:
    """The running browser (see the module)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=workdir))
        self.process: asyncio.subprocess.Process | None = None
        self.connection: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.pages: dict[str, Page] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Chromium:
        binary = shutil.which("chromium")
        if binary is None:
            raise BrowserError("no chromium on PATH (make test installs Debian's chromium)")
        with (self.workdir / "chromium.out").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                binary, "--headless=new", "--no-sandbox", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-dev-shm-usage", "--disable-gpu",
                "about:blank", stdout=log, stderr=subprocess.STDOUT)
        try:
            port, path = await self._devtools_port()
            self.connection = await websockets.connect(f"ws://127.0.0.1:{port}{path}",
                                                       max_size=None)
        except BaseException:
            await self._stop()
            raise
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self._stop()

    async def _devtools_port(self) -> tuple[int, str]:
        """The port and browser path Chromium wrote to its profile's DevToolsActivePort."""
        assert self.process is not None
        deadline = time.monotonic() + TIMEOUT
        active = self.profile / "DevToolsActivePort"
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}: "
                                   f"{(self.workdir / 'chromium.out').read_text()[-2000:]}")
            lines = active.read_text().split("\n") if active.exists() else []
            if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                return int(lines[0]), lines[1].strip()
            await asyncio.sleep(0.05)
        raise BrowserError(f"chromium wrote no {active} within {TIMEOUT:.0f} s")

    async def _read(self) -> None:
        async for message in self.connection:
            data = json.loads(message)
            if "id" in data:
                future = self.waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif (page := self.pages.get(data.get("sessionId", ""))) is not None:
                page.event(data["method"], data.get("params", {}))

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: str | None = None) -> dict[str, Any]:
        """Run one DevTools command (in ``session``, else on the browser); its result."""
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[number] = future
        await self.connection.send(json.dumps(message))
        answer = await asyncio.wait_for(future, TIMEOUT)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def page(self, *, offline: bool = True, allow: str | None = None,
                   headers: dict[str, str] | None = None) -> Page:
        """A new tab, its network offline (unless ``offline`` is false) and its
        requests, console and exceptions recorded, before it loads anything.
        ``allow``: a URL prefix (a loopback server's) whose requests go through,
        every other request failing as if offline; ``headers`` are sent with
        every request."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True})
        page = self.pages[attached["sessionId"]] = Page(self, attached["sessionId"])
        await page.send("Network.enable")
        if headers:
            await page.send("Network.setExtraHTTPHeaders", headers=headers)
        if allow is not None:
            page.allow = allow
            await page.send("Fetch.enable", patterns=[{"urlPattern": "*"}])
        elif offline:
            await page.send("Network.emulateNetworkConditions", offline=True, latency=0,
                            downloadThroughput=-1, uploadThroughput=-1)
        await page.send("Runtime.enable")
        await page.send("Log.enable")
        await page.send("Page.enable")
        return page

    def later(self, work: Any) -> None:
        """Run the coroutine ``work`` beside the reader (an event's answer), kept till done."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.connection is not None:
            await self.connection.close()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
