import os
from ...typing import sha256, Dict, get_type_hints

url = 'https://example.invalid'
model = 'classic-1'
supports_stream = False
needs_auth = False


def _create_completion(model: str, messages: list, stream: bool, **kwargs):
    yield 'classic says: ' + messages[-1]['content']


params = f'g4f.Providers.{os.path.basename(__file__)[:-3]} supports: ' + \
    '(%s)' % ', '.join([f"{name}: {get_type_hints(_create_completion)[name].__name__}" for name in _create_completion.__code__.co_varnames[:_create_completion.__code__.co_argcount]])
