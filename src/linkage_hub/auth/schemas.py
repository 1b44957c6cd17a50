"""API models of the auth room."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from linkage_hub.domain import Department


class TokenResponse(BaseModel):
    access_token: str = Field(description="A signed JWT (ES256); send it as `Bearer`.")
    token_type: str = Field("bearer", description="Always `bearer`.")
    expires_in: int = Field(description="Seconds until the token expires (at most 900).")
    scope: str = Field(description="The scopes the token holds, space-separated.")


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    y: str
    kid: str
    alg: str
    use: str


class Jwks(BaseModel):
    keys: list[Jwk]


class AccessRecordItem(BaseModel):
    id: int
    recorded_at: dt.datetime
    client_id: str
    client_name: str | None
    department: Department
    region: str = Field(description="The calling client's region.")
    method: str
    route: str = Field(description="The route template, e.g. `/api/v1/persons/{id_number}`.")
    status: int
    person_records: int = Field(description="Person records the response carried.")
    request_id: str | None = Field(
        description="The hub's own id of the request (unique): the `X-Request-ID` of the "
        "response and the `request_id` of its audit-log entries."
    )
    client_request_id: str | None = Field(
        default=None,
        description="The caller's own `X-Request-ID`, when it sent a safe one (echoed as "
        "`X-Client-Request-ID`); callers choose it, so it need not be unique.",
    )
    source_address: str | None = Field(
        default=None,
        description="Where the request came from: the peer address, or behind a trusted proxy "
        "(`LINKAGE_TRUSTED_PROXIES`) the client address it forwarded. Null for records kept "
        "before it was recorded.",
    )


class AccessRecordPage(BaseModel):
    items: list[AccessRecordItem]
    next_cursor: str | None
