"""The bundled SmolLM2 model really generates, in-process and through the whole stack."""
import threading

import pytest

from conftest import chat
from webui.errors import UserError
from webui.providers.local import LocalProvider, bundled_model_path

PROMPT = [{"role": "user", "content": "Say hello."}]


def text_of(chunks):
    """The text a provider's generator yields, without its markers."""
    return "".join(chunk for chunk in chunks if isinstance(chunk, str))


def test_the_bundled_model_streams_a_short_answer(server):
    ws = server.connect()
    model = bundled_model_path().stem
    ws.send(chat("m", "Say hello.", provider="local", model=model, options={"max_tokens": 8, "seed": 1}))
    frames = ws.until_final("m", timeout=120)
    assert frames[0]["type"] == "start" and frames[0]["model"] == model
    deltas = [f for f in frames if f["type"] == "delta"]
    assert 1 <= len(deltas) <= 8
    assert "".join(f["text"] for f in deltas).strip()
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] in ("complete", "length")


def test_an_answers_token_count_is_the_count_its_text_gets_in_the_next_prompt(server):
    ws = server.connect()
    model = bundled_model_path().stem
    ws.send(chat("m", "Say hello.", provider="local", model=model, options={"max_tokens": 8, "seed": 1}))
    frames = ws.until_final("m", timeout=120)
    answer = "".join(f["text"] for f in frames if f["type"] == "delta")
    counter = LocalProvider().token_counter(model)
    assert 1 <= frames[-1]["stats"]["tokens"] == counter.text_tokens(answer)


def test_concurrent_requests_to_one_model_are_serialized():
    provider = LocalProvider()
    model = provider.default_model()
    results, errors = [], []

    def ask():
        """Generate a few tokens, recording the outcome."""
        try:
            results.append(text_of(provider.complete(model, PROMPT, max_tokens=6, seed=2)))
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 3 and all(r.strip() for r in results)


def test_closing_the_generator_frees_the_model_for_the_next_request():
    provider = LocalProvider()
    model = provider.default_model()
    chunks = provider.complete(model, PROMPT, max_tokens=64)
    next(chunks)
    chunks.close()
    assert text_of(provider.complete(model, PROMPT, max_tokens=4, seed=3)).strip()


def test_an_unknown_local_model_is_refused():
    with pytest.raises(UserError) as refused:
        next(LocalProvider().complete("no-such-model", PROMPT))
    assert refused.value.code == "unknown_model"
