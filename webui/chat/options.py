"""The generation options a browser may pass to a provider, with their types and ranges."""
from flask_babel import gettext as _

from ..errors import UserError

# Only these options reach a provider: a browser must not be able to pass arbitrary
# keyword arguments (a proxy, a base URL, a key) into provider code.
NUMERIC_OPTIONS = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "min_p": (float, 0.0, 1.0),
    "top_k": (int, 0, 1000),
    "max_tokens": (int, 1, 32768),
    "presence_penalty": (float, -2.0, 2.0),
    "frequency_penalty": (float, -2.0, 2.0),
    "repeat_penalty": (float, 0.5, 2.0),
    "seed": (int, 0, 2**32 - 1),
}
MAX_STOP_SEQUENCES = 4


def parse_options(options):
    """Check the generation options against their types and ranges; a refusal names its option (`option`)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise UserError(_("“options” must be an object."))
    parsed = {}
    for key, value in options.items():
        if key == "stop":
            if not (isinstance(value, list) and len(value) <= MAX_STOP_SEQUENCES and all(isinstance(s, str) and s for s in value)):
                raise UserError(_("“stop” must be a list of at most %(n)d strings.", n=MAX_STOP_SEQUENCES), option=key)
            parsed[key] = value
            continue
        if key not in NUMERIC_OPTIONS:
            raise UserError(_("Unknown option “%(name)s”.", name=key), option=key)
        kind, low, high = NUMERIC_OPTIONS[key]
        if kind is int:
            # Not float(value): an integer beyond a float's range (valid JSON) would raise OverflowError.
            ok_type = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
        else:
            ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok_type or not low <= value <= high:
            message = _("Option “%(name)s” must be a number from %(low)s to %(high)s.", name=key, low=low, high=high)
            raise UserError(message, option=key)
        parsed[key] = kind(value)
    return parsed
