"""A fake Ollama's own models, on a FakeUpstream's real socket: /api/tags with details, /api/show (with "vision" among
the capabilities of the models in `ollama.vision`), /api/delete, and a streaming /api/pull that succeeds or fails as
Ollama does.

A pull of a model of the library streams "pulling manifest", progress lines for each layer, then "verifying sha256
digest", "writing manifest" and "success", and the model is installed (before "success" goes out, as Ollama writes
its manifest first). A name not in the library gets Ollama's in-band error line. `ollama.fault` makes the next pulls go
wrong: an error line mid-pull (NO_SPACE), a stall (STALL), a line trickled out slowly (TRICKLE), a line that never
ends (LONG_LINE), a dropped connection (DROP).
"""
import hashlib
import json

import pytest

from fake_upstream import CUT, MODELS, answer, stream, upstream  # noqa: F401 (fixture)

NDJSON = "application/x-ndjson"
LIBRARY = {
    "qwen2.5:0.5b": {"size": 397_821_319, "family": "qwen2", "parameter_size": "494.03M", "quantization": "Q4_K_M"},
    "hf.co/bartowski/SmolLM2-135M-Instruct-GGUF:Q8_0": {
        "size": 144_811_200, "family": "llama", "parameter_size": "134.52M", "quantization": "unknown",
    },
}
INSTALLED = {
    MODELS[0]: {"size": 4_661_224_676, "family": "llama", "parameter_size": "8.0B", "quantization": "Q4_0"},
    MODELS[1]: {"size": 1_321_098_329, "family": "gemma", "parameter_size": "1B", "quantization": "Q4_K_M"},
}
MODIFIED = "2025-05-09T09:35:25.123456789+02:00"
NO_SPACE_ERROR = "write /root/.ollama/models/blobs/sha256-2bada8a74506-partial: no space left on device"
NO_SPACE, STALL, TRICKLE, LONG_LINE, DROP = "no space", "stall", "trickle", "long line", "drop"
# A stall outlasts any test's patience; closing the fake server ends it.
STALL_SECONDS = 60


def line(**event):
    """One line of a pull's stream."""
    return json.dumps(event).encode() + b"\n"


def tag(name, model):
    """A model as /api/tags lists it."""
    details = {
        "parent_model": "", "format": "gguf", "family": model["family"], "families": [model["family"]],
        "parameter_size": model["parameter_size"], "quantization_level": model["quantization"],
    }
    digest = hashlib.sha256(name.encode()).hexdigest()
    return {"name": name, "model": name, "modified_at": MODIFIED, "size": model["size"], "digest": digest, "details": details}


class FakeOllama:
    """The models one Ollama server holds and may pull, and the routes that list, show, pull and delete them."""

    def __init__(self, upstream):
        """Hold INSTALLED and pull from LIBRARY; `steps` progress lines per layer, `pause` seconds after each."""
        self.upstream = upstream
        self.models = dict(INSTALLED)
        self.fault = None
        # The models whose /api/show lists "vision" among their capabilities.
        self.vision = set()
        self.steps = 3
        self.pause = 0.0
        upstream.on("GET", "/api/tags", lambda handler: answer(body=self.tags())(handler))
        upstream.on("POST", "/api/show", self.show)
        upstream.on("POST", "/api/pull", self.pull)
        upstream.on("DELETE", "/api/delete", self.delete)

    def tags(self):
        """The /api/tags answer: every model installed, the last installed first, as Ollama sorts them."""
        return {"models": [tag(name, model) for name, model in reversed(self.models.items())]}

    def show(self, handler):
        """/api/show: a model's details and capabilities, or Ollama's 404."""
        name = (handler.body or {}).get("model")
        if name not in self.models:
            return answer(404, {"error": f"model '{name}' not found"})(handler)
        model = self.models[name]
        family = model["family"]
        answer(body={
            "details": tag(name, model)["details"],
            "capabilities": ["completion", "vision"] if name in self.vision else ["completion"],
            "model_info": {"general.architecture": family, f"{family}.context_length": 32768},
            "parameters": "stop                           \"<|im_end|>\"",
            "modified_at": MODIFIED,
        })(handler)

    def progress(self, name):
        """The progress lines of one layer of `name`, with the pauses."""
        total, steps = LIBRARY[name]["size"], []
        for step in range(1, self.steps + 1):
            steps += [line(status="pulling 2bada8a74506", digest="sha256:2bada8a74506", total=total, completed=total * step // self.steps)]
            steps += [self.pause] if self.pause else []
        return steps

    def failing(self, name):
        """The steps of a pull that goes wrong as `fault` says, after its first progress line."""
        first, *_ = self.progress(name)
        return {
            NO_SPACE: [first, line(error=NO_SPACE_ERROR)],
            STALL: [first, STALL_SECONDS],
            TRICKLE: [first, b'{"status": "pull', 0.6, b'ing 2bada8a74506", ', 0.6, b'"completed": 1}\n'],
            LONG_LINE: [first, b'{"status": "' + b"x" * 100_000],
            DROP: [first, CUT],
        }[self.fault]

    def pull(self, handler):
        """/api/pull, streamed: the manifest, the layers, the digest checked, the model installed; or Ollama's error."""
        name = (handler.body or {}).get("model")
        steps = [line(status="pulling manifest")]
        if name not in LIBRARY:
            steps.append(line(error="pull model manifest: file does not exist"))
        elif self.fault:
            steps += self.failing(name)
        else:
            install = lambda: self.models.update({name: LIBRARY[name]})  # noqa: E731
            steps += self.progress(name)
            steps += [line(status="verifying sha256 digest"), line(status="writing manifest"), install, line(status="success")]
        stream(*steps, content_type=NDJSON)(handler)

    def delete(self, handler):
        """/api/delete: the model is gone (200, no body), or Ollama's 404."""
        name = (handler.body or {}).get("model")
        if self.models.pop(name, None) is None:
            return answer(404, {"error": f"model '{name}' not found"})(handler)
        answer(200, b"", content_type="text/plain")(handler)


@pytest.fixture
def ollama(upstream):
    """The fake Ollama's models, on the test's fake server."""
    return FakeOllama(upstream)
