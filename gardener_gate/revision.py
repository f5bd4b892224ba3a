"""Finding the revision to analyse, from the Cloud Run Admin API."""

from __future__ import annotations

__all__ = [
    "RunAdmin",
    "make_run_admin",
]

import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import requests
from google.api_core import exceptions as api

from gardener_gate.cloud import credentials_for
from gardener_gate.errors import LogReadError

logger = logging.getLogger(__name__)

_LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


def make_run_admin(endpoint: str | None) -> RunAdmin:
    """The official Cloud Run client (v2, REST transport)."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import run_v2

    options = ClientOptions(api_endpoint=endpoint) if endpoint else None
    credentials = credentials_for(endpoint)
    return RunAdmin(
        run_v2.ServicesClient(
            credentials=credentials, transport="rest", client_options=options
        ),
        run_v2.RevisionsClient(
            credentials=credentials, transport="rest", client_options=options
        ),
    )


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


class RunAdmin:
    """The two questions the gate asks Cloud Run."""

    def __init__(self, services: Any, revisions: Any) -> None:
        self._services = services
        self._revisions = revisions

    def serving_revision(self, project: str, region: str, service: str) -> str:
        """The revision with the largest share of traffic (ties: newest).

        Raises:
            LogReadError: the service cannot be read or serves nothing.
        """
        name = f"projects/{project}/locations/{region}/services/{service}"
        try:
            found = self._services.get_service(name=name)
        except api.GoogleAPICallError as fault:
            raise LogReadError(_explain(fault, name)) from None
        except (api.RetryError, requests.RequestException) as fault:
            raise LogReadError(_unreachable(name, fault)) from None
        shares: dict[str, float] = defaultdict(float)
        for status in found.traffic_statuses:
            kind = getattr(status.type_, "name", str(status.type_))
            revision = status.revision
            if kind == _LATEST or not revision:
                revision = found.latest_ready_revision
            if revision and status.percent > 0:
                shares[_short(revision)] += status.percent
        if not shares and found.latest_ready_revision:
            shares[_short(found.latest_ready_revision)] = 100.0
        if not shares:
            raise LogReadError(
                f"service {service} in {project}/{region} serves no "
                "revision; give --revision explicitly"
            )
        best = max(shares.values())
        tied = sorted(r for r, share in shares.items() if share == best)
        if len(tied) > 1:
            tied.sort(key=lambda r: self._created(name, r) or _EPOCH)
        logger.info(
            "revision auto: shares=%s chosen=%s", dict(shares), tied[-1]
        )
        return tied[-1]

    def revision_start(
        self, project: str, region: str, service: str, revision: str
    ) -> datetime | None:
        """When the revision was created; None when that cannot be read."""
        name = f"projects/{project}/locations/{region}/services/{service}"
        return self._created(name, revision)

    def previous_revision(
        self, project: str, region: str, service: str, revision: str
    ) -> str | None:
        """The revision created last before ``revision``, if any.

        Raises:
            LogReadError: the service's revisions cannot be listed.
        """
        name = f"projects/{project}/locations/{region}/services/{service}"
        created = self._created(name, revision)
        try:
            found = [
                (item.create_time, _short(item.name))
                for item in self._revisions.list_revisions(parent=name)
            ]
        except api.GoogleAPICallError as fault:
            raise LogReadError(_explain(fault, name)) from None
        except (api.RetryError, requests.RequestException) as fault:
            raise LogReadError(_unreachable(name, fault)) from None
        older = sorted(
            (_aware(moment), short)
            for moment, short in found
            if moment
            and short != revision
            and (created is None or _aware(moment) < created)
        )
        logger.info(
            "baseline revision auto: %d older than %s", len(older), revision
        )
        return older[-1][1] if older else None

    def _created(self, service_name: str, revision: str) -> datetime | None:
        try:
            found = self._revisions.get_revision(
                name=f"{service_name}/revisions/{revision}"
            )
        except (
            api.GoogleAPICallError,
            api.RetryError,
            requests.RequestException,
        ) as fault:
            logger.warning(
                "could not read when revision %s started (%s); the window "
                "is not bounded by it",
                revision,
                type(fault).__name__,
            )
            return None
        created = found.create_time
        return _aware(created) if created else None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _unreachable(name: str, fault: Exception) -> str:
    return (
        f"Cloud Run did not answer about {name} ({type(fault).__name__}); "
        "check the network or GARDENER_GATE_RUN_ENDPOINT, or give "
        "--revision explicitly"
    )


def _explain(fault: api.GoogleAPICallError, name: str) -> str:
    if fault.code in (401, 403):
        return (
            f"Cloud Run refused to describe {name} (HTTP {fault.code}): the "
            "identity needs the Cloud Run Viewer role (roles/run.viewer) to "
            "find the revision, or give --revision explicitly"
        )
    if fault.code == 404:
        return f"Cloud Run has no service {name} (404)"
    return f"Cloud Run failed to describe {name} (HTTP {fault.code})"
