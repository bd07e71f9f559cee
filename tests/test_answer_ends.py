"""Many stored answers that end at the same moment are all written and told their outcome, however short
WEBUI_DATABASE_TIMEOUT is: the ends wait for no one but another program that holds the database."""
from test_answer_saver import server_log, streaming

ANSWERS = 300
# Streams about 23 KB, then waits (at most a minute) until the test creates the file RELEASE, then ends: the answers of
# a test all end within a few milliseconds, as long answers that started together do.
TOGETHER = '''
import os
import time

url = "http://127.0.0.1/together"
model = ["together"]
supports_stream = True
needs_auth = False
RELEASE = {release!r}


def _create_completion(model, messages, stream, **kwargs):
    for n in range(4000):
        yield f"w{{n}} "
    for _ in range(6000):
        if os.path.exists(RELEASE):
            break
        time.sleep(0.01)
    yield "end"
'''


def test_answers_that_end_together_are_all_written_and_told_so(tmp_path, providers_dir):
    release = tmp_path / "release"
    source = TOGETHER.format(release=str(release))
    settings = {"WEBUI_DATABASE_TIMEOUT": "1", "WEBUI_MAX_STREAMS_PER_SOCKET": "300", "WEBUI_MAX_SOCKETS_PER_USER": "30"}
    with streaming(tmp_path, providers_dir, ANSWERS, "together", source, **settings) as (server, answers, db):
        ids = answers.message_ids()
        answers.until(lambda: all(text.endswith("w3999 ") for text in answers.text.values()), "every answer waits")
        release.touch()
        answers.until(lambda: len(answers.final) == ANSWERS, "every answer ended", 60)

        outcomes = {(frame["type"], frame.get("reason"), frame.get("code")) for frame in answers.final.values()}
        assert outcomes == {("done", "complete", None)}
        # Whoever got the final frame reads the outcome back, text and all.
        rows = db.connection.execute(
            f"SELECT id, status, content FROM stored_messages WHERE id IN ({', '.join('?' * ANSWERS)})", list(ids.values())
        ).fetchall()
        stored = {message_id: (status, content) for message_id, status, content in rows}
        assert all(stored[message_id] == ("complete", answers.text[request_id]) for request_id, message_id in ids.items())
    assert not [line for line in server_log(server) if "could not save" in line]
