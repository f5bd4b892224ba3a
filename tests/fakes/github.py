"""A fake GitHub REST API, enough for what run and publish ask of it.

Served by pytest-httpserver on 127.0.0.1 and driven by the real PyGithub.
It keeps comments, events, files and issues (with their own comments) in
memory, filters issues by state and label, paginates as GitHub does
(``Link`` headers), enforces the 65,536-character limit on comments and
issue bodies, and can answer any call with a fault instead.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

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
class Issue:
    number: int
    title: str
    body: str
    user: str
    labels: list[str]
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    comments: list[Comment] = field(default_factory=list)
    is_pull: bool = False

    def close(self, reason: str, at: str) -> None:
        """Close it as a person would: ``completed`` or ``not_planned``."""
        self.state, self.state_reason, self.closed_at = "closed", reason, at


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
    issues: list[Issue] = field(default_factory=list)
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
        every = self.comments + [c for i in self.issues for c in i.comments]
        return next(c for c in every if c.id == ident)

    def issue(self, number: int) -> Issue:
        return next(i for i in self.issues if i.number == number)

    def _thread(self, number: str) -> list[Comment]:
        if int(number) == self.pr:
            return self.comments
        return self.issue(int(number)).comments

    def _next_comment_id(self) -> int:
        every = self.comments + [c for i in self.issues for c in i.comments]
        return max((c.id for c in every), default=9000) + 1

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
            ("GET", rf"/repos/{repo}/issues", self._list_issues),
            ("POST", rf"/repos/{repo}/issues", self._create_issue),
            ("GET", issue, self._get_issue),
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
            kept = {k: v[0] for k, v in query.items() if k != "page"}
            kept.update(per_page=str(per_page), page=str(page + 1))
            headers["Link"] = f'<{url}?{urlencode(kept)}>; rel="next"'
        return _json(chosen, **headers)

    def _list_comments(self, request: Request, number: str) -> Response:
        return self._page(
            request, [self._comment_json(c) for c in self._thread(number)]
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
        ident = self._next_comment_id()
        comment = Comment(ident, self.login or "github-actions[bot]", body)
        self._thread(number).append(comment)
        return _json(self._comment_json(comment), 201)

    def _edit(self, request: Request, ident: str) -> Response:
        body = json.loads(request.get_data())["body"]
        refused = self._too_long(body)
        if refused is not None:
            return refused
        comment = self.comment_by_id(int(ident))
        comment.body = body
        return _json(self._comment_json(comment))

    def _issue_json(self, issue: Issue) -> dict[str, Any]:
        url = f"{self.api}/repos/{self.repo}/issues/{issue.number}"
        kind = "pull" if issue.is_pull else "issues"
        extra = {"pull_request": {"url": url}} if issue.is_pull else {}
        return {
            **extra,
            "id": 50_000 + issue.number,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "user": {"login": issue.user},
            "labels": [{"name": name} for name in issue.labels],
            "state": issue.state,
            "state_reason": issue.state_reason,
            "closed_at": issue.closed_at,
            "comments": len(issue.comments),
            "url": url,
            "comments_url": f"{url}/comments",
            "html_url": (
                f"https://github.example/{self.repo}/{kind}/{issue.number}"
            ),
        }

    def _list_issues(self, request: Request) -> Response:
        query = parse_qs(request.query_string.decode())
        state = query.get("state", ["open"])[0]
        wanted = {
            name for name in query.get("labels", [""])[0].split(",") if name
        }
        chosen = [
            self._issue_json(i)
            for i in sorted(self.issues, key=lambda i: -i.number)
            if state in ("all", i.state) and wanted <= set(i.labels)
        ]
        return self._page(request, chosen)

    def _get_issue(self, request: Request, number: str) -> Response:
        if int(number) == self.pr:
            return _json({"message": "a pull request"}, 404)
        return _json(self._issue_json(self.issue(int(number))))

    def _create_issue(self, request: Request) -> Response:
        given = json.loads(request.get_data())
        refused = self._too_long(given.get("body") or "")
        if refused is not None:
            return refused
        number = (
            max([i.number for i in self.issues] + [self.pr], default=0) + 1
        )
        issue = Issue(
            number,
            given["title"],
            given.get("body") or "",
            self.login or "github-actions[bot]",
            list(given.get("labels") or []),
        )
        self.issues.append(issue)
        return _json(self._issue_json(issue), 201)

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
