"""Bounded requests, attacked from outside through a real Daphne (issue 11 item 4).

Daphne used to take a whole body into memory before the application saw it: a 300 MB anonymous
POST to /login/ grew the process by gigabytes. Now a body over the limit is refused from its
Content-Length before it is read, a chunked body is cut off at the anonymous limit, and only a
signed-in session may send more than the (small) anonymous limit.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import re
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import psutil
import pytest

from tests.browser.live_stack import PASSWORD, PYTHON, ROOT, _stop, env_for, free_port, prepare

pytestmark = pytest.mark.fullstack

MB = 1024 * 1024
ANON_LIMIT = 64 * 1024


@contextlib.contextmanager
def _daphne(var_dir: Path):
    port = free_port()
    log = open(var_dir / "daphne.log", "w")  # closed in finally
    proc = subprocess.Popen(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=ROOT,
        env=env_for(var_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Daphne did not start:\n" + (var_dir / "daphne.log").read_text())
            time.sleep(0.3)
        yield port, proc
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("limits")
    setup = prepare(var_dir, site_keys=["15-UBND", "140"])
    with _daphne(var_dir) as (port, proc):
        yield {"port": port, "pid": proc.pid, "conference": setup["code"]}


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    out = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def _sign_in(port: int, username: str) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login/")
    page = conn.getresponse()
    cookies = _cookies(page)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode()).group(1)
    body = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    conn.request(
        "POST",
        "/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken']}",
            "Referer": f"http://127.0.0.1:{port}/login/",
        },
    )
    done = conn.getresponse()
    done.read()
    assert done.status == 302, done.status
    cookies.update(_cookies(done))
    conn.close()
    return cookies


def _raw(port: int, head: str, body: bytes = b"", *, timeout: float = 20) -> tuple[int, bytes]:
    """Send ``head`` (+ ``body``) on a fresh socket and return (status, whole response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError, socket.timeout):
            while b"\r\n\r\n" not in data or len(data) < 200:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def _head(method: str, path: str, length: int | None, *, cookie: str = "", extra: str = "") -> str:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/octet-stream",
    ]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return "\r\n".join(lines) + "\r\n" + extra + "\r\n"


def test_300_mb_announced_to_login_is_refused_before_a_byte_of_it_is_read(stack):
    status, data = _raw(stack["port"], _head("POST", "/login/", 300 * MB))
    assert status == 413
    assert "quá lớn".encode() in data


def test_anonymous_body_over_the_small_limit_is_refused(stack):
    status, _ = _raw(stack["port"], _head("POST", "/login/", 200 * 1024), b"x" * (200 * 1024))
    assert status == 413


def test_chunked_anonymous_body_is_cut_off_at_the_anonymous_limit(stack):
    chunk = b"x" * 16384
    body = (
        b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    ) * 8 + b"0\r\n\r\n"  # 128 KB, no Content-Length
    status, _ = _raw(stack["port"], _head("POST", "/login/", None), body)
    assert status == 413


def test_small_anonymous_post_still_reaches_the_login_page(stack):
    status, _ = _raw(stack["port"], _head("POST", "/login/", 5), b"a=b&c")
    assert status == 403  # CSRF, i.e. Django saw it


def test_a_made_up_session_cookie_does_not_lift_the_anonymous_limit(stack):
    status, _ = _raw(stack["port"], _head("POST", "/login/", MB, cookie="sessionid=not-a-session"))
    assert status == 413


def test_signed_in_100_mb_upload_is_refused_before_reading(stack):
    cookies = _sign_in(stack["port"], "vanthu.tinh")
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    path = f"/conferences/{stack['conference']}/documents/"
    status, _ = _raw(stack["port"], _head("POST", path, 100 * MB, cookie=cookie))
    assert status == 413


def _pdf(size: int) -> bytes:
    return b"%PDF-1.4\n" + b"%" + b"0" * (size - 20) + b"\n%%EOF\n"


def _multipart(fields: dict[str, str], name: str, content: bytes) -> tuple[str, bytes]:
    boundary = "----giaoban-test-boundary"
    out = io.BytesIO()
    for key, value in fields.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        )
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/pdf\r\n\r\n".encode()
    )
    out.write(content + f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", out.getvalue()


@pytest.mark.parametrize("expect", [False, True])
def test_signed_in_clerk_uploads_a_2_mb_document_past_the_anonymous_limit(stack, expect):
    port = stack["port"]
    cookies = _sign_in(port, "vanthu.tinh")
    path = f"/conferences/{stack['conference']}/documents/"
    content_type, body = _multipart(
        {"csrfmiddlewaretoken": cookies["csrftoken"]}, f"tai-lieu-{expect}.pdf", _pdf(2 * MB)
    )
    headers = {
        "Content-Type": content_type,
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "Referer": f"http://127.0.0.1:{port}{path}",
    }
    if expect:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head.encode())
            assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(body)
            status = int(sock.recv(4096).split(b" ", 2)[1])
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        status = response.status
    assert status == 302  # stored, back to the documents page
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": headers["Cookie"]})
    assert f"tai-lieu-{expect}.pdf" in conn.getresponse().read().decode()


def test_daphne_memory_stays_flat_while_a_client_pushes_300_mb_at_login(stack):
    process = psutil.Process(stack["pid"])
    before = process.memory_info().rss
    peak = before
    with socket.create_connection(("127.0.0.1", stack["port"]), timeout=30) as sock:
        sock.sendall(_head("POST", "/login/", 300 * MB).encode())
        block = b"x" * MB
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(300):
                sock.sendall(block)
                peak = max(peak, process.memory_info().rss)
        response = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError, socket.timeout):
            response = sock.recv(4096)
    peak = max(peak, process.memory_info().rss)
    assert response.startswith(b"HTTP/1.1 413")
    assert peak - before < 50 * MB, f"Daphne grew by {(peak - before) / MB:.0f} MB"
