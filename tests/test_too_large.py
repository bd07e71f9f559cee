"""A frame larger than WEBUI_MAX_REQUEST_BYTES is refused unparsed, yet answered as its request when it names one
first: the page that sent it can tell which of its requests failed and give the text back."""
import json

import pytest

from conftest import chat


@pytest.fixture
def app_config(app_config):
    """A small request limit."""
    return {**app_config, "WEBUI_MAX_REQUEST_BYTES": 4096}


@pytest.mark.parametrize(
    "frame, request_id",
    [
        (json.dumps(chat("big", "x" * 5000)), "big"),
        (json.dumps({"request_id": 7, **chat(7, "x" * 5000)}), 7),
        ('{ "type" : "chat" ,\n "request_id" : "quote \\" inside", "messages": "' + "x" * 5000 + '"}', 'quote " inside'),
        # Not where a cheap look finds it, or not a valid id: refused as before, for no request.
        (json.dumps({"type": "chat", "messages": [{"role": "user", "content": "x" * 5000}], "request_id": "late"}), None),
        (json.dumps(chat("r" * 129, "x" * 5000)), None),
        (json.dumps(chat(True, "x" * 5000)), None),
        ('{"type": "chat", "request_id": "bad \\escape", "x": "' + "x" * 5000 + '"}', None),
    ],
)
def test_a_frame_too_large_is_refused_for_the_request_it_names(server, frame, request_id):
    ws = server.connect()
    ws.send(frame)
    error = ws.recv()
    assert error == {"type": "error", "request_id": request_id, "code": "too_large", "message": error["message"]}
    assert "4 KiB" in error["message"]
    ws.send(chat("after", "still here"))
    assert ws.until_final("after")[-1]["type"] == "done"
