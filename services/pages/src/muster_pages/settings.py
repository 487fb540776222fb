"""The pages service's settings."""

from __future__ import annotations

from pydantic import Field, SecretStr

from muster_runtime.settings import ServiceSettings

CONTEXT = "pages"


class PagesSettings(ServiceSettings):
    service_name: str = CONTEXT
    http_port: int = 8005
    volunteer_service_url: str = Field(
        default="http://127.0.0.1:8001", description="Where `/api/volunteer/…` is forwarded."
    )
    dispatch_service_url: str = Field(
        default="http://127.0.0.1:8002", description="Where `/api/dispatch/…` is forwarded."
    )
    notify_service_url: str = Field(
        default="http://127.0.0.1:8004", description="Where `/api/notify/…` is forwarded."
    )
    reporting_service_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Where `/api/reporting/…` is forwarded (the console's dashboard link).",
    )
    oidc_issuer: str = Field(
        default="",
        description="The organisation's OpenID provider (its `issuer`; discovery at "
        "`<issuer>/.well-known/openid-configuration`). Empty: no production sign-in.",
    )
    oidc_client_id: str = Field(default="muster-pages", description="This site's OIDC client id.")
    oidc_client_secret: SecretStr = Field(
        default=SecretStr(""),
        description="The client's secret, if the provider gives it one (PKCE is used either way).",
    )
    oidc_scope: str = Field(default="openid", description="Scopes asked for at sign-in.")
    oidc_resource: str = Field(
        default="",
        description="The resource indicator (RFC 8707) the access token is asked for; empty: "
        "the services' audience (`MUSTER_JWT_AUDIENCE`).",
    )
    public_url: str = Field(
        default="",
        description="This site's address as browsers reach it (e.g. `https://muster.example`): "
        "the OIDC redirect URI is `<it>/sign-in/callback`; empty: taken from each request.",
    )
    dev_sign_in_area: str = Field(
        default="1302",
        description="Development sign-in (MUSTER_DEV_MODE only): the area claim of its tokens.",
    )

    @property
    def upstreams(self) -> dict[str, str]:
        """The services the page talks to, by the name in `/api/<name>/…`."""
        return {
            "volunteer": self.volunteer_service_url,
            "dispatch": self.dispatch_service_url,
            "notify": self.notify_service_url,
            "reporting": self.reporting_service_url,
        }

    def secret_problems(self) -> list[str]:
        # Signs nothing itself outside development mode: the identity provider signs tokens.
        if self.oidc_issuer:
            return []
        return [
            "MUSTER_OIDC_ISSUER is not set: volunteers could not sign in / 未设置 "
            "MUSTER_OIDC_ISSUER：志愿者无法登录"
        ]
