"""People's pages: server-served pages with a little JavaScript that call the services'
public HTTP APIs through this service (same origin), signed in by OpenID Connect."""
