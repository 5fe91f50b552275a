"""Programme tokens (hashed, constant-time) and the per-token rate limit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.auth import TokenAuthenticator, TokenBucketLimiter, hash_token
from services.intake.settings import IntakeSettings
from tests.unit.intake import examples as ex


def test_bearer_token_maps_to_its_programme() -> None:
    auth = TokenAuthenticator(ex.settings().token_hashes())
    assert auth.programme_for("Bearer chw-secret") == ex.PROGRAMME
    assert auth.programme_for("bearer  tpp-secret ") == ex.OTHER_PROGRAMME
    for header in (
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic chw-secret",
        "chw-secret",
        "Bearer chw-secret2",
        "Bearer " + "x" * 5000,
    ):
        assert auth.programme_for(header) is None


def test_rotated_tokens_both_work() -> None:
    settings = IntakeSettings(tokens={"prog-a": (hash_token("old"), hash_token("new"))})
    auth = TokenAuthenticator(settings.token_hashes())
    assert auth.programme_for("Bearer old") == auth.programme_for("Bearer new") == "prog-a"


def test_plain_tokens_in_settings_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValidationError) as caught:
        IntakeSettings(tokens={"prog-a": "my-plain-token"})
    assert "my-plain-token" not in str(caught.value.errors(include_input=False))


def test_token_bucket() -> None:
    now = [0.0]
    limiter = TokenBucketLimiter(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # buckets are per token
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    now[0] += 100
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0  # refills only up to the burst
