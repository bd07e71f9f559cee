"""A local model's tokens, counted by llama.cpp itself: the prompt exactly as create_chat_completion evaluates it."""
import hashlib

# Token counts of texts kept per model, so that a long conversation is tokenized once, not on every turn.
MAX_CACHED = 8192


class Measured(Exception):
    """Carries the prompt's tokens out of the chat handler, before anything is generated."""

    def __init__(self, tokens):
        """Keep the tokens."""
        super().__init__(len(tokens))
        self.tokens = tokens


class PromptMeter:
    """Stands in for a Llama in its own create_chat_completion: the chat handler it picks formats the messages with
    the GGUF's template and tokenizes them as for an answer, then hands the tokens to create_completion, which here
    raises them instead of generating. Everything else is the model's."""

    def __init__(self, llama):
        """Measure for `llama`."""
        self._llama = llama

    def __getattr__(self, name):
        """The model's own attributes (its handlers, template, tokenizer)."""
        return getattr(self._llama, name)

    def create_completion(self, prompt, **options):
        """Where the answer would start: the prompt is complete."""
        raise Measured(prompt)


class LlamaCounter:
    """Counts for a loaded model (see context.Estimate for what each method answers). Counting only reads the model,
    so it may run while the model answers someone else. It is C work done right here: context.Budget.warm does the
    long part (a conversation's texts, counted once) in a native thread before the turn's transaction."""

    def __init__(self, llama):
        """Count for `llama`; the template's cost per message is measured on first use."""
        self.llama = llama
        # Filled from pool threads too: without a lock (a gevent one cannot be taken there), as one dict operation at
        # a time is atomic, and a count computed twice or a cache emptied twice costs nothing but time.
        self._cache = {}
        self._overhead = None

    def prompt(self, messages):
        """The tokens of the whole prompt, exactly as create_chat_completion will evaluate it."""
        from llama_cpp import Llama

        try:
            Llama.create_chat_completion(PromptMeter(self.llama), messages=messages)
        except Measured as measured:
            return len(measured.tokens)
        raise RuntimeError("the chat handler did not ask for a completion")

    def text_tokens(self, text):
        """The tokens of a text, as the template's tokenizing reads it (special tokens too): the one count of a local
        model's tokens, for a message of the prompt and for an answer the model wrote. A text counted before is read
        from the cache."""
        data = text.encode("utf-8", "surrogatepass")
        key = hashlib.blake2b(data, digest_size=16).digest()
        count = self._cache.get(key)
        if count is None:
            count = len(self.llama.tokenize(data, add_bos=False, special=True))
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = count
        return count

    def _measure_overhead(self):
        """What the template adds around one message's text: a second message's cost beyond its text."""
        one = [{"role": "user", "content": "a"}]
        two = one + [{"role": "assistant", "content": "a"}]
        return self.prompt(two) - self.prompt(one) - self.text_tokens("a")

    def costs(self, messages):
        """The tokens each message adds to a prompt."""
        if self._overhead is None:
            self._overhead = self._measure_overhead()
        return [self.text_tokens(message["content"]) + self._overhead for message in messages]
