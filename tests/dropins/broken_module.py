import a_package_that_is_not_installed  # noqa: F401

url = "https://example.invalid"
model = "never"
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    yield "never"
