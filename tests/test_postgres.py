"""PostgreSQL's own ways: its full-text search in Russian and English, a server restarted under a running app and
under answers that stream, and tables another program locks even against readers."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from conftest import Browser, ServerProcess, turn
from databases import run_sql
from other_program import PostgresDatabase
from test_answer_saver import server_log, stop_and_compare, streaming, wait_until_stored
from test_cli import server_command
from test_conversation_restart import owner_cookie
from test_shared_resume import connect
from webui import create_app
from webui.access import identity
from webui.storage import conversations, get_db
from webui.storage.answer_parts import Part, append_parts
from webui.storage.database import transaction
from webui.storage.engine import POOL_OVERFLOW, POOL_SIZE

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def imported(client, *texts, title=None):
    """Import a conversation of these user messages: its id."""
    body = {"messages": [{"role": "user", "content": text} for text in texts], **({"title": title} if title else {})}
    response = client.post("/api/conversations/import", json=body)
    assert response.status_code == 201, response.json
    return response.json["id"]


def found(client, query):
    """The ids of the conversations a search finds."""
    response = client.get("/api/conversations", query_string={"q": query})
    assert response.status_code == 200, response.json
    return {c["id"] for c in response.json["conversations"]}


def test_search_finds_russian_and_english_words_by_their_beginnings(app, client):
    assert "PostgreSQL" in run_sql(app, "SELECT version()")[0][0]
    client.get("/")
    russian = imported(client, "Привет, как дела? Погода сегодня солнечная.")
    english = imported(client, "The quick brown fox jumps over the lazy dog.")
    both = imported(client, "Ёлка and the Christmas tree", title="Праздник")
    assert found(client, "привет") == {russian}
    assert found(client, "ПОГОД") == {russian}
    assert found(client, "сол") == {russian}
    assert found(client, "quick jump") == {english}
    assert found(client, "Jumps LAZ") == {english}
    # Every word must match, in the same message or title.
    assert found(client, "quick привет") == set()
    assert found(client, "ёлк christ") == {both}
    assert found(client, "праздн") == {both}
    assert found(client, "nothing-like-this") == set()


@pytest.mark.parametrize("query", ["it's", "a & b", "fox | dog", "!fox", "fox:*", "(fox", "'", "\\", "fox <-> dog", "':* | '"])
def test_punctuation_in_a_query_is_never_query_syntax(client, query):
    client.get("/")
    imported(client, "a fox and a dog")
    response = client.get("/api/conversations", query_string={"q": query})
    assert response.status_code == 200, response.json


def test_quoted_and_joined_words_are_found_as_words(client):
    client.get("/")
    fox = imported(client, "a fox and a dog, it's late")
    assert found(client, "(fox") == {fox}
    assert found(client, "fox:*") == {fox}
    assert found(client, "it's") == {fox}
    # A word with punctuation inside is a phrase, as on SQLite: its words one after the other.
    assert found(client, "fox|and") == {fox}
    assert found(client, "fox|dog") == set()


def test_a_streaming_answer_is_found_by_the_words_of_its_parts(app, client):
    client.get("/")
    owner = "anon:" + client.get_cookie("webui_owner").value
    with app.app_context():
        db = get_db()
        with transaction(db):
            conversation_id = conversations.create_conversation(db, owner, "")
            message_id = conversations.add_message(db, conversation_id, None, "assistant", "", status="streaming")
        parts = [Part(message_id, "Москва — столица Рос", "", "testing", "echo", None),
                 Part(message_id, "сии, a big ci", "Рос", "testing", "echo", None)]
        for part in parts:
            db.write(append_parts, [part])
    assert found(client, "москв") == {conversation_id}
    assert found(client, "россии") == {conversation_id}
    assert found(client, "big") == {conversation_id}


def test_search_is_answered_by_the_gin_indexes_and_a_huge_message_is_stored(app, client):
    from webui.storage.search import POSTGRES_MATCH

    client.get("/")
    words = " ".join(f"w{n:07d}" for n in range(200_000))  # 1.8 MB of distinct words: more than a tsvector holds
    with app.app_context():
        db = get_db()
        with transaction(db):
            conversation_id = conversations.create_conversation(db, "anon:x", "huge")
            conversations.add_message(db, conversation_id, None, "user", words)
        db.execute(text("SET enable_seqscan = off"))
        explain = text("EXPLAIN SELECT id FROM conversations WHERE owner = :owner AND " + POSTGRES_MATCH.text)
        plan = " ".join(row[0] for row in db.execute(explain, {"owner": "anon:x", "terms": "'w0000001':*"}))
    # (The titles are filtered among the owner's conversations, found by their own index.)
    assert "Bitmap Index Scan on message_search" in plan and "Bitmap Index Scan on part_search" in plan, plan
    assert run_sql(app, "SELECT length(content) FROM messages")[0][0] == len(words)


def test_a_restarted_postgresql_is_a_clear_error_and_then_used_again(server, postgres_cluster):
    browser = Browser(server.url)
    browser.get("/")
    created = browser.post("/api/conversations/import", json=[{"role": "user", "content": "kept through a restart"}])
    assert created.status_code == 201
    token = browser.csrf_token()
    postgres_cluster.stop()
    try:
        during = browser.get("/api/conversations")
        assert during.status_code == 503
        assert during.json()["error"]["code"] == "storage_failed"
        assert "Try again later" in during.json()["error"]["message"]
        page = browser.get("/")
        assert page.status_code == 503 and "Try again later" in page.text
        body = [{"role": "user", "content": "while it was down"}]
        refused = browser.http.post(server.url + "/api/conversations/import", json=body, headers={"X-CSRF-Token": token},
                                    timeout=10)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "storage_failed"
    finally:
        postgres_cluster.start()
    after = browser.get("/api/conversations")
    assert after.status_code == 200
    assert [c["id"] for c in after.json()["conversations"]] == [created.json()["id"]]
    again = browser.post("/api/conversations/import", json=[{"role": "user", "content": "after the restart"}])
    assert again.status_code == 201


def test_webui_serve_stores_a_chat_in_postgresql_and_keeps_it_across_a_restart_of_postgresql(
    tmp_path, providers_dir, database_url, postgres_cluster
):
    command, env = server_command(tmp_path / "data", providers_dir, "serve", WEBUI_DATABASE_URL=database_url, LANG="C")
    server = ServerProcess(command, env=env)
    try:
        browser = Browser(server.url)
        browser.get("/")
        ws = browser.connect()
        ws.send(turn("first", content="hello from gunicorn"))
        frames = ws.until_final("first")
        assert frames[-1].get("reason") == "complete", frames[-1]
        conversation_id = frames[0]["conversation_id"]
        postgres_cluster.restart()
        # The worker's pooled connections died with the server: the next requests reconnect.
        for _ in range(50):
            shown = browser.get(f"/api/conversations/{conversation_id}")
            if shown.status_code == 200:
                break
            assert shown.status_code == 503 and shown.json()["error"]["code"] == "storage_failed"
        assert [m["content"] for m in shown.json()["messages"]] == ["hello from gunicorn", "hello from gunicorn "]
        ws.send(turn("second", conversation_id, content="and again"))
        # The socket's own connection, out of the pool since the first turn, is found dead and replaced unseen.
        last = ws.until_final("second")[-1]
        assert last.get("reason") == "complete", last
    finally:
        server.stop()
    stored = run_sql(create_app({"WEBUI_DATA_DIR": str(tmp_path / "data"), "WEBUI_DATABASE_URL": database_url}),
                     "SELECT content FROM messages ORDER BY seq")
    assert [row[0] for row in stored] == ["hello from gunicorn", "hello from gunicorn ", "and again", "and again "]


def test_a_database_of_revision_0001_is_upgraded_with_its_rows_and_then_folds_accents(app_config, postgres_cluster):
    from alembic import command
    from sqlalchemy import create_engine

    from webui.storage.upgrade import alembic_config

    client = create_app(app_config).test_client()
    client.get("/")
    cafe = imported(client, "Un café crème")
    owner = client.get_cookie(identity.COOKIE).value
    engine = create_engine(app_config["WEBUI_DATABASE_URL"])
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    engine.dispose()
    name = app_config["WEBUI_DATABASE_URL"].rsplit("/", 1)[1]
    assert postgres_cluster.sql("SELECT version_num FROM alembic_version", name).strip() == "0001"
    client = create_app(app_config).test_client()
    client.set_cookie(identity.COOKIE, owner)
    assert postgres_cluster.sql("SELECT version_num FROM alembic_version", name).strip() == "0003"
    assert found(client, "cafe creme") == {cafe} and found(client, "CAFÉ") == {cafe}


def test_a_database_that_may_not_make_unaccent_still_searches_and_says_why_accents_count(app_config, postgres_cluster, caplog):
    name = app_config["WEBUI_DATABASE_URL"].rsplit("/", 1)[1]
    role = f"limited_{name}"
    # May make tables in the schema, but not extensions (a trusted one needs CREATE on the database).
    postgres_cluster.sql(f"CREATE ROLE {role} LOGIN")
    postgres_cluster.sql(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}", name)
    try:
        app_config["WEBUI_DATABASE_URL"] = postgres_cluster.url(name).replace("//webui@", f"//{role}@")
        app = create_app(app_config)
        client = app.test_client()
        client.get("/")
        cafe, plain = imported(client, "Un café crème"), imported(client, "a cafe")
        assert "search will not fold accents" in caplog.text and "unaccent" in caplog.text
        assert (found(client, "café"), found(client, "cafe"), found(client, "crème")) == ({cafe}, {plain}, {cafe})
        app.extensions["webui.store"].engine.dispose()
    finally:
        postgres_cluster.sql(f"REASSIGN OWNED BY {role} TO webui; DROP OWNED BY {role}", name)
        postgres_cluster.sql(f"DROP ROLE {role}")
def test_answers_streaming_while_postgresql_is_down_go_on_and_lose_nothing(
    tmp_path, providers_dir, database_url, postgres_cluster
):
    with streaming(tmp_path, providers_dir, 10, database_url=database_url, WEBUI_DATABASE_TIMEOUT="1") as (server, answers, _):
        ids = answers.message_ids()
        postgres_cluster.stop()
        try:
            answers.receive_for(2.5)
            assert not answers.final, "the answers go on streaming to their sockets"
        finally:
            postgres_cluster.start()
        shown = answers.shown()
        db = PostgresDatabase(database_url)
        try:
            # Once it is back, the saver's rounds write everything the answers showed while it was down.
            wait_until_stored(db, answers, shown, ids, seconds=10)
            assert not answers.final
            stop_and_compare(db, answers, ids)
        finally:
            db.close()
    # The rounds that could not write (one a second) are one line as they begin and one as they end, with no trace.
    said = [line for line in server_log(server) if "could not save" in line or "works again" in line or "Traceback" in line]
    assert len(said) == 2 and "could not save" in said[0] and "works again, after" in said[1], said


def test_tables_locked_by_another_program_are_a_clear_error_for_readers_too_and_nothing_is_lost(
    tmp_path, providers_dir, database_url
):
    with streaming(tmp_path, providers_dir, 10, database_url=database_url, WEBUI_DATABASE_TIMEOUT="1") as (server, answers, db):
        ids = answers.message_ids()
        browser = Browser(server.url)
        browser.get("/")
        # As a migration or VACUUM FULL does: even readers wait for it, each at most WEBUI_DATABASE_TIMEOUT.
        db.execute("BEGIN")
        db.execute("LOCK TABLE conversations, messages, answer_parts IN ACCESS EXCLUSIVE MODE")
        try:
            # More readers at once than the server has native threads for the database: each is told, none hangs.
            with ThreadPoolExecutor(12) as pool:
                lists = list(pool.map(lambda _: browser.get("/api/conversations"), range(12)))
            answers.receive_for(0.5)
        finally:
            db.release()
        assert {(r.status_code, r.json()["error"]["code"]) for r in lists} == {(503, "storage_busy")}
        assert not answers.final
        shown = answers.shown()
        wait_until_stored(db, answers, shown, ids)
        stop_and_compare(db, answers, ids)


def test_more_sockets_than_the_pool_has_connections_all_store_their_chats(tmp_path, providers_dir, database_url):
    sockets = POOL_SIZE + POOL_OVERFLOW + 10
    command, env = server_command(tmp_path / "data", providers_dir, "serve", WEBUI_DATABASE_URL=database_url, LANG="C",
                                  WEBUI_MAX_SOCKETS_PER_USER=str(sockets), WEBUI_REQUESTS_PER_MINUTE=str(sockets),
                                  WEBUI_MAX_STREAMS_PER_SOCKET=str(sockets))
    server = ServerProcess(command, env=env)
    try:
        cookie = owner_cookie(server.url)
        # Each socket has read the database (its owner's sessions, its turn) and stays open, as a page's does.
        opened = [connect(server, cookie) for _ in range(sockets)]
        for n, ws in enumerate(opened):
            ws.send(turn(f"t{n}", content=f"hello number {n}"))
        ends = [ws.until_final(f"t{n}")[-1] for n, ws in enumerate(opened)]
        assert [end.get("reason") for end in ends] == ["complete"] * sockets, [end for end in ends if "code" in end][:3]
    finally:
        server.stop()
