"""Request latency: server time by service version and city tier, client time by device
and network. Latency acts on behaviour (abandonment), so a regression shows where it happens.

Times are log-logistic (a common latency model: lognormal-like body, heavier tail), drawn by
inverting the CDF of counter-based uniforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.rng import Streams

CITY_TIERS = 5  # city_tier codes 1..5, as sim/world.py draws them
TIER_FACTOR = np.array([1.0, 1.06, 1.15, 1.3, 1.45], np.float32)  # distance to the edge
NETWORK_FACTOR = np.array([1.0, 0.95, 1.3, 2.6], np.float32)  # wifi, 5g, 4g, 3g
NETWORK_SERVER_FACTOR = np.sqrt(NETWORK_FACTOR)  # transfer of the response
LOGISTIC_UNIT = np.float32(np.sqrt(3.0) / np.pi)  # logistic scale with unit variance


def _standard_logistic(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 1e-7, 1 - 1e-7)
    z = np.subtract(1.0, u)  # log(u / (1 - u)) * LOGISTIC_UNIT, in one float64 buffer
    np.divide(u, z, out=z)
    np.log(z, out=z)
    z *= LOGISTIC_UNIT
    return z.astype(np.float32)


DEVICE_RENDER_MS = np.array([110.0, 210.0, 430.0], np.float32)  # high, mid, low
SERVER_SHAPE = 0.45  # log-logistic shape of server time (the logistic draw's scale)
CLIENT_SHAPE = 0.35
BASE_ERROR_RATE = 0.002


@dataclass
class LatencyOverlay:
    """A change to latency for the requests it matches (a fault's knob)."""

    match: dict[str, tuple[int, ...]]  # dimension -> allowed codes (platform, city_tier, ...)
    server_factor: float = 1.0
    client_factor: float = 1.0
    error_rate: float = 0.0


@dataclass
class LatencyModel:
    server_median_ms: float = 170.0
    overlays: dict[str, LatencyOverlay] = field(default_factory=dict)

    def sample(
        self,
        streams: Streams,
        counters: np.ndarray,
        dims: dict[str, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Server ms, client ms and an error flag for each request counter."""
        z_server = _standard_logistic(streams.uniform("latency.server", counters))
        z_client = _standard_logistic(streams.uniform("latency.client", counters))
        u_error = streams.uniform("latency.error", counters)
        network = dims["network"]
        server = np.exp(np.float32(SERVER_SHAPE) * z_server)
        server *= TIER_FACTOR[dims["city_tier"] - 1] * NETWORK_SERVER_FACTOR[network]
        server *= np.float32(self.server_median_ms)
        client = np.exp(np.float32(CLIENT_SHAPE) * z_client)
        client *= DEVICE_RENDER_MS[dims["device"]] * NETWORK_FACTOR[network]
        error_rate = np.full(len(counters), BASE_ERROR_RATE, np.float32)
        for overlay in self.overlays.values():
            hit = np.ones(len(counters), bool)
            for dim, codes in overlay.match.items():
                hit &= np.isin(dims[dim], codes)
            server = np.where(hit, server * overlay.server_factor, server)
            client = np.where(hit, client * overlay.client_factor, client)
            error_rate = np.where(hit, error_rate + overlay.error_rate, error_rate)
        f32 = np.float32
        return server.astype(f32, copy=False), client.astype(f32, copy=False), u_error < error_rate
