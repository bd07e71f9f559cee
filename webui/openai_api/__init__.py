"""The OpenAI-compatible API (/v1) over every provider, and the personal API tokens that open it.

Modules: routes (the /v1 endpoints), shapes (requests checked, OpenAI's objects and errors), images (the images of
messages: data: URLs read, sent, stored with a stored exchange), stream (the answer as server-sent events), tokens
(made, hashed, checked), running (the answers under way, stopped when their token goes), cors (which pages may call it
from a browser), store (WEBUI_API_STORE), page (the page's /api/tokens), commands (`webui token`).
"""
from ..access.origins import origins_setting
from . import page, routes, running
from .tokens import Lookup


def init_app(app):
    """Mount /v1 and /api/tokens, and keep the running answers (after shutdown.init_app)."""
    app.extensions["webui.api_origins"] = origins_setting(app.config, "WEBUI_API_ALLOWED_ORIGINS")
    app.extensions["webui.api_token_lookup"] = Lookup()
    running.init_app(app)
    app.register_blueprint(routes.bp)
    app.register_blueprint(page.bp)
