"""One exception hierarchy for mgflux.

Every error a user can provoke with a file or a command derives from :class:`MgfluxError`, so a caller
can catch them all, and the command line prints them as one readable message instead of a traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class MgfluxError(Exception):
    """Base class of every error mgflux raises on purpose."""


class ModelError(MgfluxError):
    """A model file is malformed: unknown name, bad formula, inconsistent units."""


class ScenarioError(MgfluxError):
    """A scenario file is malformed. The message names the file and the key."""


class UnitError(ScenarioError):
    """A quantity has the wrong dimension; the message names both units."""


class OptionsError(MgfluxError, ValueError):
    """A numerical or execution option is out of its domain (NaN, zero, negative, unknown name)."""


class SolverError(MgfluxError):
    """A numerical method failed. The message says what was tried and what to try next."""


class SteadyStateError(SolverError):
    """No stable steady state was found.

    Attributes: ``residual`` (scaled, per state), ``strategies`` (what was tried, with the outcome),
    ``drifting`` (names of the states whose derivative stayed largest).
    """

    def __init__(self, message: str, residual=None, strategies=(), drifting=()):
        super().__init__(message)
        self.residual = residual
        self.strategies = tuple(strategies)
        self.drifting = tuple(drifting)


class IntegrationError(SolverError):
    """A time course could not be integrated."""


class MgfluxWarning(UserWarning):
    """Something mgflux handled but the user should know (a cache rebuilt or moved, for instance)."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A ' Did you mean ...?' suffix for an unknown name, or '' when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"


def unknown_name(what: str, name: str, choices: Iterable[str], where: str = "") -> str:
    """Message for an unknown name: what it is, where, did-you-mean, and what is allowed."""
    choices = sorted(choices)
    where = f" in {where}" if where else ""
    allowed = ", ".join(choices) if len(choices) <= 12 else ", ".join(choices[:12]) + ", ..."
    return f"unknown {what} {name!r}{where}.{did_you_mean(name, choices)} Allowed: {allowed}."
