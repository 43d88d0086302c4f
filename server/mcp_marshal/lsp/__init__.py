"""The language-server shell: translates core events and calls to LSP, nothing more.

``server.py`` is the composition root and only dispatches; each capability (trust, progress,
diagnostics, watching, notifications, inputs, commands) lives in its own small module.
"""
