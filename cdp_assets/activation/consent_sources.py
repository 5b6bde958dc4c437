"""Which channels no configured source can ever give consent for.

Email and SMS need a confirmed opt-in (`identity.consent`): a customers source must map the
opt-in and its confirmation time. A brand whose sources carry neither (orders only, POS sales,
a CRM without consent columns) can never email or text anyone; its exports on those channels
are empty by construction, and `channels_without_consent_source` says so in plain words
instead of leaving people to read `email_not_confirmed` counts. Ads consent is an opt-out and
needs no source.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdp_assets.config import CDPConfig

# The canonical fields of a customers source a channel's consent is read from.
CONSENT_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("email_opt_in", "email_opt_in_confirmed_at"),
    "sms": ("sms_opt_in", "sms_opt_in_confirmed_at"),
}


def consent_sources(config: CDPConfig, channel: str) -> list[str]:
    """The customers sources that map (or default) every consent field of `channel`."""
    fields = CONSENT_FIELDS.get(channel, ())
    return [
        s.name
        for s in config.sources_of_kind("customers")
        if all(s.source_column(f) or f in s.defaults for f in fields)
    ]


def channels_without_consent_source(config: CDPConfig, channels: Iterable[str]) -> dict[str, str]:
    """Per channel of `channels` that needs an opt-in no configured source provides: a
    sentence saying that nobody can be sent on it, and what to configure."""
    found: dict[str, str] = {}
    for channel in sorted(set(channels)):
        fields = CONSENT_FIELDS.get(channel)
        if not fields or consent_sources(config, channel):
            continue
        found[channel] = (
            f"no {channel} consent source: no customers source in cdp.yaml maps "
            f"{' and '.join(fields)}, so nobody has a confirmed {channel} opt-in and every "
            f"{channel} export is empty; map them (sources[].columns) in the source that "
            "records the opt-in"
        )
    return found


def consent_source_note(config: CDPConfig, channels: Iterable[str]) -> str:
    """`channels_without_consent_source` as one metadata text ("none" when every channel
    has a consent source)."""
    return "; ".join(channels_without_consent_source(config, channels).values()) or "none"
