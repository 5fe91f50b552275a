"""HTTP intake tokens: stored as hashes, compared in constant time, required everywhere but
the health endpoints.

Constant time is checked without timing anything: by inspection of the code and by counting
``hmac.compare_digest`` calls, which must cover every configured token whatever the input
(no early exit, no ``==`` on secrets).
"""

from __future__ import annotations

import ast
import hmac
import inspect
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.routing import Route

from services.intake import auth
from services.intake.http_api import EventPublisher, create_app
from services.intake.metrics import IntakeMetrics
from services.intake.service import IntakeDomain
from services.runtime import Health, KafkaSettings, ServiceMetrics
from tests.unit.intake import examples as ex

OPEN = {"/healthz", "/readyz"}
AUTH = {"Authorization": f"Bearer {ex.TOKENS[ex.PROGRAMME]}"}


def test_settings_hold_only_token_hashes() -> None:
    settings = ex.settings()
    for programme, digests in settings.tokens.items():
        for digest in (digests,) if isinstance(digests, str) else digests:
            assert len(digest) == 64
            assert int(digest, 16) >= 0
            assert digest != ex.TOKENS[programme]
    with pytest.raises(ValidationError):
        ex.settings(tokens={ex.PROGRAMME: ex.TOKENS[ex.PROGRAMME]})  # a plain token


def test_authenticator_keeps_no_plain_token() -> None:
    authenticator = auth.TokenAuthenticator({p: (d,) for p, d in ex.TOKEN_HASHES.items()})
    stored = repr(vars(authenticator)).encode()
    for token in ex.TOKENS.values():
        assert token.encode() not in stored


def test_tokens_compared_with_compare_digest_only() -> None:
    source = inspect.getsource(auth.TokenAuthenticator.programme_for)
    tree = ast.parse(source.lstrip())
    calls = [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert "hmac.compare_digest" in calls
    equalities = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq) for op in node.ops)
    ]
    assert not [e for e in equalities if "digest" in e or "expected" in e or "token" in e]
    returns = [node for node in ast.walk(tree) if isinstance(node, ast.Return)]
    loop_returns = [
        r
        for loop in ast.walk(tree)
        if isinstance(loop, ast.For)
        for r in ast.walk(loop)
        if isinstance(r, ast.Return)
    ]
    assert returns
    assert not loop_returns, "no early exit inside the comparison loop"


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {ex.TOKENS[ex.PROGRAMME]}",
        f"Bearer {ex.TOKENS[ex.OTHER_PROGRAMME]}",
        "Bearer wrong",
        "Bearer " + "x" * 4000,
    ],
)
def test_every_entry_compared_whatever_the_token(
    header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)
    hashes = {p: (d,) for p, d in ex.TOKEN_HASHES.items()}
    authenticator = auth.TokenAuthenticator(hashes)
    authenticator.programme_for(header)
    assert len(calls) == sum(len(d) for d in hashes.values())


class _NoKafka(EventPublisher):
    def __init__(self) -> None:
        super().__init__(KafkaSettings())

    async def publish(self, records: Any, *, timeout_s: float) -> None:
        return None


@pytest.fixture
def app() -> Any:
    return create_app(
        domain=IntakeDomain.from_settings(ex.settings()),
        publisher=_NoKafka(),
        metrics=IntakeMetrics(base=ServiceMetrics(service="intake-auth-test")),
        health=Health(),
        manage_publisher=False,
    )


async def test_no_route_but_health_answers_without_a_token(app: Any) -> None:
    routes = [(r.path, sorted(r.methods or ())) for r in app.routes if isinstance(r, Route)]
    assert {path for path, _ in routes} >= {"/v1/events", "/v1/events:batch", "/metrics"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        for path, methods in routes:
            for method in methods:
                if method == "HEAD":
                    continue
                for headers in (
                    {},
                    {"Authorization": "Bearer not-a-token"},
                    {"Authorization": "x"},
                ):
                    response = await client.request(method, path, headers=headers, content=b"{}")
                    if path in OPEN:
                        assert response.status_code in (200, 503), (method, path)
                    else:
                        assert response.status_code == 401, (method, path, response.status_code)
                        assert response.headers.get("www-authenticate") == "Bearer"
        # the same routes answer with a token
        assert (await client.get("/metrics", headers=AUTH)).status_code == 200
        assert (await client.get("/v1/openapi.json", headers=AUTH)).status_code == 200
