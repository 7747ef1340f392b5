"""Drives headless Chromium over the Chrome DevTools Protocol for tests/ui.rs.

Standard library only. Chromium is started with --remote-debugging-pipe: it reads
commands on fd 3 and writes answers and events on fd 4, each message one JSON text
followed by a NUL byte.

The test sends one JSON command a line on stdin and reads one JSON answer a line on
stdout ({"ok": true, "value": ...} or {"ok": false, "error": "..."}):

  {"op": "goto", "url": "..."}                  navigate and wait for the load
  {"op": "eval", "js": "..."}                   evaluate (promises awaited), by value
  {"op": "wait", "js": "...", "timeout": 10}    poll until the expression is truthy
  {"op": "screenshot", "path": "..."}           save a PNG of the viewport
  {"op": "problems"}                            JS exceptions and CSP violations so far
  {"op": "quit"}

Usage: cdp_driver.py <chromium binary> <profile directory>
"""

import base64
import json
import os
import subprocess
import sys
import time


class Browser:
    def __init__(self, binary, profile):
        os.makedirs(profile, exist_ok=True)
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():
            # Copies first: a pipe may already sit on fd 3 or 4, and dup2 onto itself
            # would keep its close-on-exec flag.
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [
            binary,
            "--headless=new",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            "--password-store=basic",
            "--window-size=1280,900",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        self.proc = subprocess.Popen(
            args,
            # The pipes are moved to fds 3 and 4 after the fork; close_fds would close them.
            preexec_fn=fds,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(profile, "chromium.log"), "ab"),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.session = None
        self.problems = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(method)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )

    def _read(self):
        while b"\0" not in self.buf:
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def _note(self, msg):
        method = msg.get("method")
        params = msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text")
            self.problems.append(f"exception: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if "Content Security Policy" in entry.get("text", ""):
                self.problems.append(f"csp: {entry.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            args = [a.get("value", a.get("description")) for a in params.get("args", [])]
            self.problems.append(f"console.error: {args}")

    def call(self, method, params=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._note(answer)

    def evaluate(self, js):
        r = self.call(
            "Runtime.evaluate",
            {"expression": js, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(d.get("exception", {}).get("description") or d.get("text"))
        return r.get("result", {}).get("value")

    def wait(self, js, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(js)
                if last:
                    return last
            except RuntimeError as e:
                last = str(e)
            time.sleep(0.1)
        raise RuntimeError(f"timed out after {timeout}s waiting for {js!r} (last: {last!r})")

    def goto(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete'", 15)
        return self.evaluate("location.href")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    browser = Browser(sys.argv[1], sys.argv[2])
    print(json.dumps({"ok": True, "value": "ready"}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "goto":
                value = browser.goto(cmd["url"])
            elif op == "eval":
                value = browser.evaluate(cmd["js"])
            elif op == "wait":
                value = browser.wait(cmd["js"], cmd.get("timeout", 10))
            elif op == "screenshot":
                value = browser.screenshot(cmd["path"])
            elif op == "problems":
                value = browser.problems
            elif op == "quit":
                break
            else:
                raise RuntimeError(f"unknown op {op}")
            print(json.dumps({"ok": True, "value": value}), flush=True)
        except Exception as e:  # the test reports it
            print(json.dumps({"ok": False, "error": str(e)}), flush=True)
    browser.close()
    print(json.dumps({"ok": True, "value": "closed"}), flush=True)


if __name__ == "__main__":
    main()
