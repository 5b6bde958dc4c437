"""Bad values for injected defects, each chosen so that exactly one known rule fires."""

from __future__ import annotations

import numpy as np

from cdp_assets.demo.delivery import BadValues


def one_of(*choices: str | None) -> BadValues:
    """A maker drawing each bad value from `choices`."""

    def make(rng: np.random.Generator, n: int) -> list[str | None]:
        return [choices[i] for i in rng.integers(0, len(choices), n)]

    return make


def empty() -> BadValues:
    return one_of(None)


TEST_EMAILS = one_of(
    "test@example.com", "noreply@test.com", "asdf@asdf.com", "fake@fake.com", "test123@gmail.com"
)
INVALID_EMAILS = one_of("john.smith@", "mary@@gmail.com", "no email", "anna.gmail.com", "@web.de")
FAKE_PHONES = one_of("0000000000", "1234567890", "5555555555", "9999999999", "1111111111")
INVALID_POSTAL = one_of("XX-00", "??", "ABCDEFGH")
FUTURE_TIMESTAMPS = one_of("2031-03-14T10:00:00Z", "2099-01-01T00:00:00Z")
EARLY_TIMESTAMPS = one_of("1985-06-01T09:00:00Z", "1970-01-01T00:00:00Z")
IMPOSSIBLE_TIMESTAMPS = one_of("2026-02-30T10:00:00Z", "2025-13-01T08:00:00Z", "yesterday")
NEGATIVE_AMOUNTS = one_of("-25.00", "-199.90", "-5.5")
ABSURD_AMOUNTS = one_of("987654.00", "1500000.00")
NOT_NUMBERS = one_of("twelve", "12..50", "abc")
