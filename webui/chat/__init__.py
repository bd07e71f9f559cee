"""The chat path on the server: a WebSocket's frames, the answers they start, and their chunks written back."""
