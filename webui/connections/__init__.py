"""Model servers an admin connects from the page: their API and fields, an Ollama server's models, their providers."""
from . import api, ollama_models, providers


def init_app(app):
    """The connections' providers, built now and after every change, and the routes that change them."""
    providers.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(ollama_models.bp)
