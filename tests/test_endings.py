"""Honest endings: an answer the model stopped at its token limit ends with `length`, from every kind of provider,
with the tokens it wrote; Continue goes on with the same message (the local model sees it as its open turn)."""
import pytest

from conftest import Visitor, chat, turn
from fake_upstream import (  # noqa: F401 (upstream and webui are fixtures)
    DONE,
    HELLO,
    OPENAI_CHAT,
    answer,
    collect,
    ollama_line,
    openai_event,
    openai_usage,
    stream,
    text_of,
    upstream,
    webui,
)
from webui.chat.markers import Ending
from webui.providers import local
from webui.providers.ollama import OllamaProvider
from webui.providers.openai import OpenAIProvider

OLLAMA_CHAT = "/api/chat"
NDJSON = "application/x-ndjson"
STORY = "Tell me a long story about a cat."


def lab(upstream):
    """The fake server as an OpenAI-compatible [[providers]] entry."""
    return {"name": "lab", "type": "openai", "base_url": upstream.url + "/v1", "timeout": 1, "read_timeout": 2}


def box(upstream):
    """The fake server as an Ollama [[providers]] entry."""
    return {"name": "box", "type": "ollama", "base_url": upstream.url, "timeout": 1, "read_timeout": 2}


def openai_cut(texts, tokens):
    """An OpenAI stream that stops at the token limit, then says how many tokens it wrote."""
    return stream(*[openai_event(t) for t in texts], openai_event(finish="length"), openai_usage(tokens), DONE)


def ollama_cut(texts, tokens):
    """An Ollama stream whose last line says it stopped at the token limit after `tokens`."""
    lines = [ollama_line(t) for t in texts]
    return stream(*lines, ollama_line(done=True, done_reason="length", eval_count=tokens, eval_duration=10**9), content_type=NDJSON)


# Per kind of server: its chat path, its [[providers]] entry, and a stream cut at the token limit.
KINDS = {"openai": (OPENAI_CHAT, lab, openai_cut), "ollama": (OLLAMA_CHAT, box, ollama_cut)}


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_the_token_limit_ends_the_answer_with_length_and_its_tokens(upstream, webui, kind):
    chat_path, entry, cut = KINDS[kind]
    upstream.on("POST", chat_path, cut(["Once", " upon"], 2))
    ws = webui([entry(upstream)]).connect()
    ws.send(chat("o", provider=entry(upstream)["name"], model="fake-model", options={"max_tokens": 2}))
    frames = ws.until_final("o")
    assert text_of(frames) == "Once upon"
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] == "length" and frames[-1]["stats"]["tokens"] == 2
    if kind == "openai":
        assert upstream.requests_to(OPENAI_CHAT)[0].body["stream_options"] == {"include_usage": True}


def test_openai_usage_in_the_finishing_chunk_and_a_plain_stop(upstream):
    finishing = b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": {"completion_tokens": 7}}\n\n'
    # Nothing after it: the answer does not wait for [DONE] once it has the finish_reason and the usage.
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hi"), finishing, 30))
    chunks = list(OpenAIProvider("lab", upstream.url + "/v1", read_timeout=20).complete("fake-model", HELLO))
    assert chunks == ["Hi", Ending("complete", 7)]


def test_openai_without_usage_after_the_finish_reason_still_completes(upstream):
    # A server that neither sends the usage nor [DONE], and keeps the connection open: the text is whole.
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hi"), openai_event(finish="length"), 5))
    texts, error = collect(OpenAIProvider("lab", upstream.url + "/v1", read_timeout=0.5).complete("fake-model", HELLO))
    assert error is None and texts == ["Hi"]


def test_a_whole_openai_answer_says_length_too(upstream):
    body = {"choices": [{"message": {"content": "cut"}, "finish_reason": "length"}], "usage": {"completion_tokens": 1}}
    upstream.on("POST", OPENAI_CHAT, answer(body=body))
    assert list(OpenAIProvider("lab", upstream.url + "/v1").complete("fake-model", HELLO)) == ["cut", Ending("length", 1)]


def test_ollama_stop_and_unreadable_counts(upstream):
    upstream.on("POST", OLLAMA_CHAT, stream(ollama_line("Hi"), ollama_line(done=True, done_reason="stop", eval_count="many"), content_type=NDJSON))
    assert list(OllamaProvider("box", upstream.url).complete("fake-model", HELLO)) == ["Hi", Ending("complete", None)]
    whole = {"message": {"role": "assistant", "content": "cut"}, "done": True, "done_reason": "length", "eval_count": 3}
    upstream.on("POST", OLLAMA_CHAT, answer(body=whole))
    assert list(OllamaProvider("box", upstream.url).complete("fake-model", HELLO)) == ["cut", Ending("length", 3)]


def test_a_drop_in_answer_has_no_token_count(server):
    ws = server.connect()
    ws.send(chat("d", "one two"))
    frames = ws.until_final("d")
    assert frames[-1]["reason"] == "complete" and frames[-1]["stats"]["tokens"] is None


def test_the_local_model_says_length_and_counts_its_tokens(server):
    ws = server.connect()
    model = local.bundled_model_path().stem
    ws.send(chat("l", STORY, provider="local", model=model, options={"max_tokens": 4, "seed": 1}))
    frames = ws.until_final("l", timeout=120)
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] == "length"
    assert 1 <= frames[-1]["stats"]["tokens"] <= 4


def loaded_llama(config):
    """The llama.cpp model the server with this config has loaded (other tests in the process may have loaded the
    same file with another context length)."""
    [model] = [model for (_path, n_ctx, _threads), model in local._loaded.items() if n_ctx == config["WEBUI_LOCAL_CONTEXT"]]
    return model.llama


def test_continue_with_the_local_model_goes_on_in_the_same_turn(server):
    visitor = Visitor(server)
    ws = visitor.connect()
    model = local.bundled_model_path().stem
    options = {"max_tokens": 6, "seed": 1}
    ws.send(turn("t", content=STORY, model=model, options=options) | {"provider": "local"})
    first = ws.until_final("t", timeout=120)
    assert first[-1]["reason"] == "length"
    partial = text_of(first)
    conversation = f"/api/conversations/{first[0]['conversation_id']}"
    stored = visitor.http.get(conversation).json["messages"][-1]
    assert (stored["status"], stored["content"]) == ("length", partial)

    ws.send(turn("c", first[0]["conversation_id"], action="continue", message_id=stored["id"], model=model, options=options) | {"provider": "local"})
    more = ws.until_final("c", timeout=120)
    assert more[-1]["type"] == "done" and text_of(more)
    # What llama.cpp evaluated: the template's history, then the answer so far as the open turn and the new text
    # right after it, with no end of turn between them and no new turn started.
    llama = loaded_llama(server.app.config)
    seen = llama.detokenize(llama.input_ids[: llama.n_tokens].tolist(), special=True).decode()
    opened = seen.index("<|im_start|>assistant\n" + partial)
    after = seen[opened + len("<|im_start|>assistant\n") :]
    assert "<|im_end|>" not in after and "<|im_start|>" not in after
    assert (partial + text_of(more)).startswith(after)
    [answer_] = [m for m in visitor.http.get(conversation).json["messages"] if m["role"] == "assistant"]
    assert answer_["id"] == stored["id"] and answer_["content"] == partial + text_of(more)
    assert answer_["versions"] == [stored["id"]]


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_continue_sends_the_answer_so_far_last_and_appends(upstream, webui, kind):
    chat_path, entry, cut = KINDS[kind]
    upstream.on("POST", chat_path, cut(["Once", " upon"], 2))
    visitor = Visitor(webui([entry(upstream)]))
    ws = visitor.connect()
    name = entry(upstream)["name"]
    ws.send(turn("t", content=STORY, model="fake-model") | {"provider": name})
    first = ws.until_final("t")
    assert first[-1]["reason"] == "length"
    upstream.on("POST", chat_path, cut([" a time"], 2))
    ws.send(turn("c", first[0]["conversation_id"], action="continue", message_id=first[0]["message_id"], model="fake-model") | {"provider": name})
    assert ws.until_final("c")[-1]["reason"] == "length"
    sent = upstream.requests_to(chat_path)[-1].body["messages"]
    assert sent == [{"role": "user", "content": STORY}, {"role": "assistant", "content": "Once upon"}]
    stored = visitor.http.get(f"/api/conversations/{first[0]['conversation_id']}").json["messages"]
    assert [m["content"] for m in stored] == [STORY, "Once upon a time"]
    assert stored[-1]["stats"]["tokens"] == 2
