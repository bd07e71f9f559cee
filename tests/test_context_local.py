"""The context budget with the bundled model at a 512-token context: tokens counted by llama.cpp itself."""
import pytest
from llama_cpp import Llama

from webui.providers import local
from webui.providers.local import bundled_model_path

CONTEXT = 512
MODEL = bundled_model_path().stem
# About 60 tokens each, different in every turn.
TOPICS = ["rivers", "mountains", "bread", "clocks", "bridges", "owls", "violins", "glaciers", "lanterns", "maps"]


def question(topic):
    """A user message of a few sentences about `topic`."""
    return (
        f"Tell me something about {topic}. I have been reading about {topic} all week and I keep wondering how "
        f"people first learned about {topic}, what they got wrong, and what we still do not know about {topic} today."
    )


@pytest.fixture
def app_config(app_config):
    """The local models at a small context, so that a few turns overflow it."""
    return {**app_config, "WEBUI_LOCAL_CONTEXT": CONTEXT}


@pytest.fixture(scope="module")
def reference():
    """The same model file in a Llama of our own: what llama.cpp makes of a prompt, outside the server."""
    return Llama(model_path=str(bundled_model_path()), n_ctx=CONTEXT, n_threads=2, verbose=False)


def server_model():
    """The model the server loaded for this context size."""
    [loaded] = [model for key, model in local._loaded.items() if key[1] == CONTEXT]
    return loaded.llama


def evaluated(llama):
    """The tokens the model has evaluated, in order: its last prompt and what it generated after it."""
    return llama.input_ids[: llama.n_tokens].tolist()


def test_an_overflowing_conversation_is_fitted_with_llama_cpps_own_count(visitor, reference):
    ws = visitor.connect()
    conversation_id, contexts = None, []
    for n, topic in enumerate(TOPICS):
        ws.send({
            "type": "chat", "request_id": f"r{n}", "conversation_id": conversation_id, "provider": "local", "model": MODEL,
            "content": question(topic), "options": {"max_tokens": 8, "seed": 1, "temperature": 0},
        })
        frames = ws.until_final(f"r{n}", timeout=120)
        assert frames[-1]["type"] == "done", frames[-1]
        conversation_id = frames[0]["conversation_id"]
        context = frames[0]["context"]
        contexts.append(context)
        assert context["limit"] == CONTEXT and context["used"] <= CONTEXT - 8
        # What the server sent, as the stored conversation and the dropped count say: llama.cpp counts it the same,
        # and it is exactly the prompt the server's model evaluated before its answer.
        path = visitor.http.get(f"/api/conversations/{conversation_id}").json["messages"]
        sent = [{"role": m["role"], "content": m["content"]} for m in path[context["dropped_messages"] : -1]]
        assert sent[0]["role"] == "user" and sent[-1]["content"] == question(topic)
        prompt = evaluated(server_model())[: context["used"]]
        usage = reference.create_chat_completion(messages=sent, max_tokens=1, temperature=0)["usage"]
        assert usage["prompt_tokens"] == context["used"]
        assert evaluated(reference)[: context["used"]] == prompt
        assert path[-1]["stats"]["context"] == context
    dropped = [context["dropped_messages"] for context in contexts]
    assert dropped[0] == 0 and dropped[-1] > 0 and dropped == sorted(dropped), dropped
    assert all(n % 2 == 0 for n in dropped)


def test_a_message_longer_than_the_context_is_refused_with_its_length(server, reference):
    ws = server.connect()
    text = " ".join(question(topic) for topic in TOPICS)
    ws.send({"type": "chat", "request_id": "long", "provider": "local", "model": MODEL,
             "messages": [{"role": "user", "content": text}]})
    [error] = ws.until_final("long", timeout=120)
    assert error["code"] == "context_exceeded"
    # The message's text, and what the template writes around a message (what a second message adds beyond its text).
    def prompt_tokens(messages):
        return reference.create_chat_completion(messages=messages, max_tokens=1, temperature=0)["usage"]["prompt_tokens"]

    one = [{"role": "user", "content": "a"}]
    a = len(reference.tokenize(b"a", add_bos=False, special=True))
    around = prompt_tokens(one + [{"role": "assistant", "content": "a"}]) - prompt_tokens(one) - a
    length = len(reference.tokenize(text.encode(), add_bos=False, special=True)) + around
    assert f"takes {length:,} tokens" in error["message"]
    assert f"holds {CONTEXT} tokens" in error["message"]
