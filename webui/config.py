"""Settings: defaults < TOML file < WEBUI_* environment variables < explicit overrides, and the checks they pass."""
import os
import tomllib

from flask_babel import gettext as _

DEFAULTS = {
    "WEBUI_HOST": "127.0.0.1",
    "WEBUI_PORT": 1338,
    "WEBUI_CONFIG": None,
    "WEBUI_DATA_DIR": None,
    "WEBUI_PROVIDERS_DIR": None,
    "WEBUI_MODELS_DIR": None,
    "WEBUI_DEFAULT_PROVIDER": "local",
    "WEBUI_PROVIDERS": [],
    "WEBUI_PROVIDER_KEYS": {},
    "WEBUI_MAX_REQUEST_BYTES": 128 * 1024,
    "WEBUI_MAX_FRAME_BYTES": 256 * 1024,
    "WEBUI_MAX_STREAMS_PER_SOCKET": 4,
    "WEBUI_PROVIDER_IDLE_SECONDS": 300,
    "WEBUI_LOCAL_IDLE_SECONDS": 900,
    "WEBUI_PULL_IDLE_SECONDS": 600,
    "WEBUI_MAX_ANSWER_CHARS": 1_000_000,
    "WEBUI_MAX_QUEUED_BYTES": 4 * 1024 * 1024,
    "WEBUI_SEND_TIMEOUT_SECONDS": 60,
    "WEBUI_PING_INTERVAL": 25,
    "WEBUI_ALLOWED_HOSTS": [],
    "WEBUI_ALLOWED_ORIGINS": [],
    "WEBUI_TRUSTED_PROXIES": 0,
    "WEBUI_MAX_BODY_BYTES": 8 * 1024 * 1024,
    "WEBUI_MAX_SOCKETS_PER_USER": 16,
    "WEBUI_MAX_SOCKETS_PER_ADDRESS": 64,
    "WEBUI_REQUESTS_PER_MINUTE": 60,
    "WEBUI_IMPORTS_PER_MINUTE": 20,
    "WEBUI_UPLOADS_PER_MINUTE": 60,
    "WEBUI_MAX_STORED_BYTES_PER_USER": 1024 * 1024 * 1024,
    "WEBUI_MAX_UPLOAD_BYTES": 20 * 1024 * 1024,
    "WEBUI_MAX_IMPORT_BYTES": 32 * 1024 * 1024,
    "WEBUI_MAX_ATTACHMENTS_PER_MESSAGE": 10,
    "WEBUI_MAX_ATTACHMENT_BYTES_PER_USER": 1024 * 1024 * 1024,
    "WEBUI_MAX_ATTACHMENT_CHARS": 1_000_000,
    "WEBUI_MAX_PDF_PAGES": 1000,
    "WEBUI_MAX_IMAGE_PIXELS": 40_000_000,
    "WEBUI_ATTACHMENT_SECONDS": 30,
    "WEBUI_UNSENT_ATTACHMENT_SECONDS": 24 * 3600,
    "WEBUI_CONNECTIONS": 1000,
    "WEBUI_DATABASE_TIMEOUT": 5,
    "WEBUI_DATABASE_URL": None,
    "WEBUI_REDIS_URL": None,
    "WEBUI_SHUTDOWN_GRACE_SECONDS": 10,
    "WEBUI_LOCAL_THREADS": None,
    "WEBUI_LOCAL_CONTEXT": 2048,
    "WEBUI_SECRET_KEY": None,
    "WEBUI_TITLES": True,
    "WEBUI_TITLE_PROVIDER": None,
    "WEBUI_TITLE_MODEL": None,
    "WEBUI_API_STORE": False,
    "WEBUI_API_ALLOWED_ORIGINS": [],
}


# Counts, sizes and seconds: whole numbers in the environment, and never negative (0 is "none" or "off" where README
# says so). WEBUI_LOCAL_THREADS is one without a default (all cores).
NUMBERS = {key for key, value in DEFAULTS.items() if type(value) is int} | {"WEBUI_LOCAL_THREADS"}

# Settings whose environment variable holds TOML, as README says: the value (an inline array or table), or the
# config file's own section for it; with the kind of value each must be and an example for the error message.
TOML_SETTINGS = {
    "WEBUI_PROVIDERS": ("providers", list, '[{name = "lab", type = "openai", base_url = "http://127.0.0.1:8080/v1"}]'),
    "WEBUI_PROVIDER_KEYS": ("provider_keys", dict, '{my_module = "the key"}'),
}


class ConfigError(Exception):
    """A setting that cannot be used, with a message saying which and why."""


def toml_setting(key, raw):
    """An environment variable holding TOML: an inline value, or the lines of its section in the config file."""
    section, kind, example = TOML_SETTINGS[key]
    if not raw.strip():
        return kind()
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        try:
            value = tomllib.loads(raw).get(section)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{key} is not valid TOML ({e}); write it like {key}='{example}'") from None
    if not isinstance(value, kind) or (kind is dict and not all(isinstance(v, str) for v in value.values())):
        raise ConfigError(f"{key} must be written like {key}='{example}'")
    return value


def _coerce(key, raw):
    """Turn an environment string into its setting's kind: TOML, a flag, a whole number, or text."""
    if key in TOML_SETTINGS:
        return toml_setting(key, raw)
    if isinstance(DEFAULTS.get(key), bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if key in NUMBERS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, not {raw!r}") from None
    return raw


def setting_list(value):
    """A list setting: a TOML list, or a comma-separated string from the environment."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return list(value or [])


def read_toml(path):
    """Read a TOML settings file; its keys are written without the WEBUI_ prefix."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read the config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"the config file {path} is not valid TOML: {e}") from None
    return {"WEBUI_" + key.upper(): value for key, value in data.items()}


def read_environ(environ):
    """Collect WEBUI_* variables that name a known setting."""
    return {key: _coerce(key, value) for key, value in environ.items() if key in DEFAULTS}


def load(overrides=None, environ=None):
    """Build the layered settings mapping."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    env = read_environ(environ)
    settings = dict(DEFAULTS)
    path = overrides.get("WEBUI_CONFIG") or env.get("WEBUI_CONFIG")
    if path:
        settings.update(read_toml(path))
        settings["WEBUI_CONFIG"] = path
    settings.update(env)
    settings.update(overrides)
    return settings


def check_numbers(settings):
    """Refuse a count, size or time that is negative or not a number, from whichever source it came: a ConfigError
    that names the setting, in the current language."""
    for key in sorted(NUMBERS):
        value = settings.get(key)
        if value is None and DEFAULTS[key] is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(_("%(name)s must be a number, 0 or more, not %(value)s.", name=key, value=repr(value)))
