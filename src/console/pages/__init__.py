"""The console's pages, one module each: ``layout(data, query)`` and ``register(app, data)``
(the page's callbacks, testable on a Dash app of their own)."""
