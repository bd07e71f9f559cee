"""The context budget with model servers: a server that refuses a prompt as too long gets it once more, shorter; a
connection's context_length and Ollama's own report of its window fit the history before it is sent."""
import pytest

from fake_upstream import OPENAI_CHAT, answer, ollama_steps, openai_steps, stream, text_of, upstream, webui  # noqa: F401

TURNS = [{"role": "user", "content": f"question {n} " + "words " * 40} for n in range(6)]
HISTORY = [{"role": "system", "content": "Be brief."}]
for n, question in enumerate(TURNS):
    HISTORY += [question, {"role": "assistant", "content": f"answer {n}"}] if n < 5 else [question]
# OpenAI's, llama.cpp server's and llama-cpp-python's words for a prompt longer than the context.
OPENAI_OVERFLOW = {
    "error": {
        "message": "This model's maximum context length is 300 tokens. However, your messages resulted in 500 tokens. "
        "Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded",
    }
}
LLAMA_CPP_OVERFLOW = {
    "error": {
        "code": 400, "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error", "n_prompt_tokens": 500, "n_ctx": 300,
    }
}
LLAMA_CPP_PYTHON_OVERFLOW = {"error": {"message": "Requested tokens (500) exceed context window of 300"}}


def in_turn(*behaviours):
    """Answer the first request with the first behaviour, the second with the second, and so on (the last again)."""
    calls = []

    def reply(handler):
        """Pick the behaviour for this call."""
        calls.append(1)
        behaviours[min(len(calls), len(behaviours)) - 1](handler)

    return reply


def lab(upstream, **settings):
    """A [[providers]] entry for the fake OpenAI server."""
    return {"name": "lab", "type": "openai", "base_url": upstream.url + "/v1", "models": ["m"], **settings}


def ask(server, messages=HISTORY, provider="lab", model="m", **options):
    """Send a plain chat request and return its frames."""
    ws = server.connect()
    ws.send({"type": "chat", "request_id": "q", "provider": provider, "model": model, "messages": messages,
             "options": options})
    return ws.until_final("q")


@pytest.mark.parametrize("refusal", [OPENAI_OVERFLOW, LLAMA_CPP_OVERFLOW, LLAMA_CPP_PYTHON_OVERFLOW])
def test_a_prompt_refused_as_too_long_is_sent_once_more_without_its_oldest_turns(upstream, webui, refusal):
    upstream.on("POST", OPENAI_CHAT, in_turn(answer(400, refusal), stream(*openai_steps())))
    frames = ask(webui([lab(upstream)]))
    assert frames[-1]["type"] == "done" and text_of(frames) == "Hello, world"
    first, second = [seen.body["messages"] for seen in upstream.requests_to(OPENAI_CHAT)]
    assert first == HISTORY
    # The server holds 300 of the 500 tokens it was sent, with a quarter kept for the answer: the oldest turns go,
    # whole, until about 0.9 × 225 / 500 of the text is left; the system prompt stays.
    dropped = len(first) - len(second)
    assert second == HISTORY[:1] + HISTORY[1 + dropped :] and dropped % 2 == 0 and dropped >= 4
    assert frames[0]["context"] == {"limit": 300, "used": None, "dropped_messages": dropped}
    assert frames[-1]["stats"]["context"] == frames[0]["context"]


def test_without_numbers_half_of_the_history_goes(upstream, webui):
    refusal = {"error": {"message": "prompt exceeds the context window", "type": "invalid_request_error"}}
    upstream.on("POST", OPENAI_CHAT, in_turn(answer(400, refusal), stream(*openai_steps())))
    frames = ask(webui([lab(upstream)]))
    second = upstream.requests_to(OPENAI_CHAT)[1].body["messages"]
    assert frames[-1]["type"] == "done" and frames[0]["context"]["limit"] is None
    assert second[0] == HISTORY[0] and second[-1] == HISTORY[-1] and len(second) == len(HISTORY) - 6


def test_a_second_refusal_is_the_answer(upstream, webui):
    upstream.on("POST", OPENAI_CHAT, answer(400, OPENAI_OVERFLOW))
    frames = ask(webui([lab(upstream)]))
    assert len(upstream.requests_to(OPENAI_CHAT)) == 2
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "context_exceeded"
    assert "lab found the conversation too long for its context" in frames[-1]["message"]
    assert "maximum context length is 300 tokens" in frames[-1]["message"]


@pytest.mark.parametrize(
    "messages, refusal, code",
    [
        (HISTORY, {"error": {"message": "temperature is out of range", "type": "invalid_request_error"}}, "upstream_rejected"),
        ([TURNS[0]], OPENAI_OVERFLOW, "context_exceeded"),
    ],
)
def test_other_refusals_and_a_lone_message_are_not_sent_again(upstream, webui, messages, refusal, code):
    upstream.on("POST", OPENAI_CHAT, answer(400, refusal))
    frames = ask(webui([lab(upstream)]), messages)
    assert len(upstream.requests_to(OPENAI_CHAT)) == 1 and frames[-1]["code"] == code


def test_a_connections_context_length_fits_the_history_before_it_is_sent(upstream, webui):
    frames = ask(webui([lab(upstream, context_length=200)]), max_tokens=50)
    [request] = upstream.requests_to(OPENAI_CHAT)
    sent = request.body["messages"]
    context = frames[0]["context"]
    assert frames[-1]["type"] == "done" and context["limit"] == 200 and context["dropped_messages"] > 0
    assert sent == HISTORY[:1] + HISTORY[1 + context["dropped_messages"] :]
    # Estimated from the text's length (a token per 3 bytes), within the 150 tokens left beside the answer's 50.
    assert 0 < context["used"] <= 150


def test_auto_fits_the_history_to_the_provider_that_answers(upstream, webui):
    # auto's own context is unknown (it depends on who answers), so each provider it tries is sent what fits its own.
    frames = ask(webui([lab(upstream, context_length=200)]), provider="auto", model="default", max_tokens=50)
    [request] = upstream.requests_to(OPENAI_CHAT)
    context = frames[0]["context"]
    assert frames[-1]["type"] == "done" and context["limit"] == 200 and context["dropped_messages"] > 0
    assert request.body["messages"] == HISTORY[:1] + HISTORY[1 + context["dropped_messages"] :]


@pytest.mark.parametrize(
    "shown, window",
    [
        ({"parameters": "stop \"<|im_end|>\"\nnum_ctx 2048", "model_info": {"llama.context_length": 131072}}, 2048),
        ({"parameters": "", "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768}}, 4096),
        ({"model_info": {"gemma.context_length": 1024}}, 1024),
    ],
)
def test_ollama_says_how_long_its_window_is_and_gets_it_as_num_ctx(upstream, webui, shown, window):
    upstream.on("POST", "/api/show", answer(body=shown))
    server = webui([{"name": "box", "type": "ollama", "base_url": upstream.url}])
    for request_id in ("a", "b"):
        frames = ask(server, provider="box", model="fake-model")
        assert frames[0]["context"]["limit"] == window and frames[-1]["type"] == "done"
    assert [seen.body for seen in upstream.requests_to("/api/show")] == [{"model": "fake-model"}]
    assert all(seen.body["options"]["num_ctx"] == window for seen in upstream.requests_to("/api/chat"))


def test_ollamas_window_comes_from_the_connection_when_it_says(upstream, webui):
    server = webui([{"name": "box", "type": "ollama", "base_url": upstream.url, "context_length": 8192}])
    frames = ask(server, provider="box", model="fake-model")
    assert frames[0]["context"]["limit"] == 8192
    assert upstream.requests_to("/api/show") == []
    assert upstream.requests_to("/api/chat")[0].body["options"]["num_ctx"] == 8192


def test_an_ollama_that_cannot_say_is_sent_everything(upstream, webui):
    upstream.on("POST", "/api/chat", stream(*ollama_steps(), content_type="application/x-ndjson"))
    frames = ask(webui([{"name": "box", "type": "ollama", "base_url": upstream.url}]), provider="box", model="fake-model")
    assert frames[0]["context"] == {"limit": None, "used": None, "dropped_messages": 0}
    [request] = upstream.requests_to("/api/chat")
    assert request.body["messages"] == HISTORY and "num_ctx" not in request.body["options"]
