"""Security tests' helpers: a browser over real HTTP (Browser), and WebSocket handshakes with headers of the test's
choosing."""
import base64
import os
import re
import socket
from urllib.parse import urlsplit

import requests
from simple_websocket import Client

from live_server import BROWSER_SOCKETS, DaemonThread, Socket


class Browser:
    """Someone at a server over real HTTP: keeps cookies, and sends Origin and the page's CSRF token as a browser does."""

    def __init__(self, url):
        """Start with no cookies, at the server whose base URL is `url`."""
        self.url = url
        self.http = requests.Session()
        self.http.headers["Origin"] = url

    def get(self, path, **kwargs):
        """GET without following redirects."""
        return self.http.get(self.url + path, allow_redirects=False, timeout=10, **kwargs)

    def post(self, path, **kwargs):
        """POST carrying the chat page's CSRF token."""
        headers = {"X-CSRF-Token": self.csrf_token(), **kwargs.pop("headers", {})}
        return self.http.post(self.url + path, allow_redirects=False, timeout=10, headers=headers, **kwargs)

    def csrf_token(self):
        """The token in the chat page's meta tag."""
        return re.search(r'name="csrf-token" content="([^"]+)"', self.get("/").text)[1]

    def login(self, name, password):
        """Fill in and send the sign-in form."""
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.get("/login").text)[1]
        form = {"csrf_token": token, "username": name, "password": password}
        return self.http.post(self.url + "/login", data=form, allow_redirects=False, timeout=10)

    def cookie_header(self):
        """The Cookie header this browser sends."""
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.http.cookies)

    def connect(self):
        """Open a WebSocket with this browser's cookies (simple_websocket's Host has no port, so no Origin is sent)."""
        ws_url = self.url.replace("http", "ws", 1) + "/ws"
        socket = Socket(Client.connect(ws_url, headers={"Cookie": self.cookie_header()}, thread_class=DaemonThread))
        BROWSER_SOCKETS.append((ws_url, socket))
        return socket


def raw_handshake(url, headers=None, path="/ws"):
    """Send a WebSocket handshake with these headers over a plain socket: (status, the socket, for the caller to close)."""
    parts = urlsplit(url)
    headers = {
        "Host": parts.netloc,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        **(headers or {}),
    }
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall((f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return int(head.split()[1]), sock


def handshake(url, headers=None):
    """The status a WebSocket handshake with these headers gets (101: accepted); the socket is closed."""
    status, sock = raw_handshake(url, headers)
    sock.close()
    return status
