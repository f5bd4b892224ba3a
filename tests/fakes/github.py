"""A fake GitHub REST API, enough for what publish asks of it.

Served by pytest-httpserver on 127.0.0.1 and driven by the real PyGithub.
It keeps comments, events and files in memory, paginates as GitHub does
(``Link`` headers), enforces the 65,536-character comment limit, and can
answer any call with a fault instead.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

FaultHook = Callable[[str, str, int], Response | None]


def _json(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


@dataclass
class Comment:
    id: int
    user: str
    body: str


@dataclass
class GitHubFake:
    """One repository with one pull request."""

    repo: str = "platform/orders-api"
    pr: int = 412
    login: str | None = "cloudrun-worklog-bot"
    prefix: str = "/api/v3"
    comments: list[Comment] = field(default_factory=list)
    labeled_by: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    fault: FaultHook | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    _base: str = ""

    def install(self, server: HTTPServer) -> str:
        server.expect_request(re.compile(".*")).respond_with_handler(
            self._dispatch
        )
        self._base = server.url_for("").rstrip("/") + self.prefix
        return self._base

    @property
    def api(self) -> str:
        return self._base

    def comment_by_id(self, ident: int) -> Comment:
        return next(c for c in self.comments if c.id == ident)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if not path.startswith(self.prefix + "/"):
            return Response("<html>not the API</html>", 200)
        path = path[len(self.prefix) :]
        self.calls.append((request.method, path))
        if self.fault is not None:
            count = sum(
                1 for call in self.calls if call == (request.method, path)
            )
            replaced = self.fault(request.method, path, count)
            if replaced is not None:
                return replaced
        for method, pattern, handler in self._routes():
            found = re.fullmatch(pattern, path)
            if found and request.method == method:
                return handler(request, *found.groups())
        return _json({"message": "Not Found"}, 404)

    def _routes(self) -> list[tuple[str, str, Any]]:
        repo = re.escape(self.repo)
        issue = rf"/repos/{repo}/issues/(\d+)"
        return [
            ("GET", "/user", self._user),
            ("GET", f"/repos/{repo}", self._repo),
            ("GET", issue + "/comments", self._list_comments),
            ("POST", issue + "/comments", self._create_comment),
            ("PATCH", rf"/repos/{repo}/issues/comments/(\d+)", self._edit),
            ("GET", issue + "/events", self._events),
            ("GET", issue + "/labels", self._labels),
            ("GET", rf"/repos/{repo}/contents/(.+)", self._contents),
        ]

    def _user(self, request: Request) -> Response:
        if self.login is None:
            return _json(
                {"message": "Resource not accessible by integration"}, 403
            )
        return _json({"login": self.login, "id": 1, "url": f"{self.api}/user"})

    def _repo(self, request: Request) -> Response:
        return _json(
            {"full_name": self.repo, "url": f"{self.api}/repos/{self.repo}"}
        )

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "body": comment.body,
            "user": {"login": comment.user},
            "url": (
                f"{self.api}/repos/{self.repo}/issues/comments/{comment.id}"
            ),
            "html_url": f"https://github.example/{self.repo}/pull/{self.pr}",
        }

    def _page(self, request: Request, items: list[Any]) -> Response:
        query = parse_qs(request.query_string.decode())
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chosen = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            url = f"{self.api}{request.path[len(self.prefix) :]}"
            headers["Link"] = (
                f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"'
            )
        return _json(chosen, **headers)

    def _list_comments(self, request: Request, number: str) -> Response:
        return self._page(
            request, [self._comment_json(c) for c in self.comments]
        )

    def _too_long(self, body: str) -> Response | None:
        if len(body) > 65_536:
            return _json(
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "message": "body is too long (maximum is 65536 "
                            "characters)"
                        }
                    ],
                },
                422,
            )
        return None

    def _create_comment(self, request: Request, number: str) -> Response:
        body = json.loads(request.get_data())["body"]
        refused = self._too_long(body)
        if refused is not None:
            return refused
        ident = max((c.id for c in self.comments), default=9000) + 1
        comment = Comment(ident, self.login or "github-actions[bot]", body)
        self.comments.append(comment)
        return _json(self._comment_json(comment), 201)

    def _edit(self, request: Request, ident: str) -> Response:
        body = json.loads(request.get_data())["body"]
        refused = self._too_long(body)
        if refused is not None:
            return refused
        comment = self.comment_by_id(int(ident))
        comment.body = body
        return _json(self._comment_json(comment))

    def _labels(self, request: Request, number: str) -> Response:
        return self._page(
            request,
            [
                {"name": name, "url": f"{self.api}/labels/{name}"}
                for name in self.labels
            ],
        )

    def _events(self, request: Request, number: str) -> Response:
        events = [
            {
                "id": n,
                "event": "labeled",
                "actor": {"login": who},
                "label": {"name": label},
                "url": f"{self.api}/repos/{self.repo}/issues/events/{n}",
            }
            for n, (label, who) in enumerate(self.labeled_by.items(), 1)
        ]
        return self._page(request, events)

    def _contents(self, request: Request, path: str) -> Response:
        ref = parse_qs(request.query_string.decode()).get("ref", [""])[0]
        tree = self.files.get(ref, {})
        url = f"{self.api}/repos/{self.repo}/contents"
        if path in tree:
            data = tree[path].encode()
            return _json(
                {
                    "type": "file",
                    "name": path.rsplit("/", 1)[-1],
                    "path": path,
                    "sha": "0" * 40,
                    "encoding": "base64",
                    "content": base64.b64encode(data).decode(),
                    "url": f"{url}/{path}?ref={ref}",
                }
            )
        listing = [
            {
                "type": "file",
                "name": name.rsplit("/", 1)[-1],
                "path": name,
                "sha": "0" * 40,
                "url": f"{url}/{name}?ref={ref}",
            }
            for name in sorted(tree)
            if name.startswith(path.rstrip("/") + "/")
        ]
        if not listing:
            return _json({"message": "Not Found"}, 404)
        return _json(listing)


def pull_request_runner(monkeypatch: Any, root: Any, api: str) -> None:
    """Set the runner's variables for publish on pull request 412."""
    event = root / "event.json"
    event.write_text(
        json.dumps(
            {
                "pull_request": {
                    "number": 412,
                    "labels": [],
                    "base": {
                        "sha": "b",
                        "repo": {"full_name": "platform/orders-api"},
                    },
                    "head": {"repo": {"full_name": "platform/orders-api"}},
                }
            }
        )
    )
    for name, value in {
        "GITHUB_API_URL": api,
        "GITHUB_REPOSITORY": "platform/orders-api",
        "GITHUB_TOKEN": "ghs_faketoken000000000000000000000000",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(root / "summary.md"),
        "GITHUB_OUTPUT": str(root / "outputs.txt"),
    }.items():
        monkeypatch.setenv(name, value)
