"""Buying many: fleet price and energy per 1,000 responses for one device and its estimate.

The one home of these conversions (``devices-for``, the reports and ``analysis.compare_devices``
use them), so every front end shows the same figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.records import DeviceProfile, Estimate

#: 1 Wh = 3,600 J (SI).
JOULES_PER_WH = 3600.0
#: Energy is quoted per this many responses (a day of a kiosk's use, roughly).
RESPONSES_PER_QUOTE = 1000


def wh_per_1000_responses(joules_per_response: float | None) -> float | None:
    """Energy per 1,000 responses in Wh = J/response × 1,000 / 3,600."""
    if joules_per_response is None:
        return None
    return joules_per_response * RESPONSES_PER_QUOTE / JOULES_PER_WH


@dataclass(frozen=True)
class FleetQuote:
    """What ``fleet_size`` units of a device cost and use. ``price_complete`` is False when the
    profile's price buys only a GPU (no host PC): such a fleet price is not a device's price."""

    unit_price_usd: float | None
    fleet_price_usd: float | None
    price_complete: bool
    energy_wh_per_1000_responses: float | None


def fleet_quote(device: DeviceProfile, estimate: Estimate | None, fleet_size: int) -> FleetQuote:
    """Unit price × fleet size, and the device's energy for 1,000 responses under ``estimate``."""
    price = device.price
    energy = estimate.speed.energy_j_per_response if estimate is not None and estimate.speed is not None else None
    return FleetQuote(
        unit_price_usd=price.usd if price else None,
        fleet_price_usd=price.usd * fleet_size if price else None,
        price_complete=price.complete if price else True,
        energy_wh_per_1000_responses=wh_per_1000_responses(energy),
    )
