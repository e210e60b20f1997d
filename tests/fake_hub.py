"""A small Hugging Face Hub on 127.0.0.1, for `llmdeploy stage` tests.

It speaks the part of the Hub's HTTP protocol that huggingface_hub's ``model_info`` and
``hf_hub_download`` use (read from huggingface_hub 2.4's hf_api.py, file_download.py and
utils/_http.py):

- ``GET /api/models/{org}/{name}[/revision/{rev}]``: the commit (``sha``), ``gated`` and the
  ``siblings``; with ``?blobs=true`` each sibling's ``size``, ``blobId`` (git's sha1 of the
  blob) and, for LFS files, ``lfs: {sha256, size, pointerSize}``.
- ``HEAD`` and ``GET /{org}/{name}/resolve/{rev}/{path}``: the content, with ``X-Repo-Commit``,
  ``ETag`` (the blob id, or the SHA-256 for LFS files, quoted), ``X-Linked-Etag`` and
  ``X-Linked-Size`` for LFS files, and ``Range: bytes=N-`` answered with 206.
- Errors as the Hub sends them, with ``X-Error-Code``: ``RepoNotFound`` (404),
  ``RevisionNotFound`` (404), ``EntryNotFound`` (404), ``GatedRepo`` (401 without a token,
  403 with a token that was not granted access), and 401 with ``X-Error-Message: Invalid
  credentials in Authorization header`` for an unknown token.

Like the Hub, a gated repository's listing is public; its files need a granted token.
``cut_after`` drops the connection part way through a file's first download (as a network
failure would), to see the client resume with a Range request.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pth", ".gguf", ".pt")


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes]
    gated: bool = False
    granted: set[str] = field(default_factory=set)  # tokens that accepted the license
    commit: str = ""
    revisions: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit

    def __post_init__(self) -> None:
        digest = hashlib.sha1(usedforsecurity=False)
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + self.files[path])
        self.commit = self.commit or digest.hexdigest()
        self.revisions.setdefault("main", self.commit)

    def resolve(self, revision: str) -> str | None:
        if revision == self.commit:
            return self.commit
        return self.revisions.get(revision)

    @staticmethod
    def is_lfs(path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)

    def sibling(self, path: str, blobs: bool) -> dict:
        content = self.files[path]
        out: dict = {"rfilename": path}
        if not blobs:
            return out
        if self.is_lfs(path):
            sha256 = hashlib.sha256(content).hexdigest()
            pointer = (
                f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\n"
                f"size {len(content)}\n"
            ).encode()
            out.update(
                size=len(content),
                blobId=git_blob_id(pointer),
                lfs={"sha256": sha256, "size": len(content), "pointerSize": len(pointer)},
            )
        else:
            out.update(size=len(content), blobId=git_blob_id(content))
        return out


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.tokens: set[str] = set()  # tokens the Hub knows (valid)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range)
        self.authorizations: list[str | None] = []
        self.cut_after: dict[str, int] = {}  # file path -> bytes sent before the cut, once
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, repo_id: str, files: dict[str, bytes], **kw) -> Repo:
        self.repos[repo_id] = Repo(dict(files), **kw)
        return self.repos[repo_id]

    def downloads(self) -> list[str]:
        """Paths of the files sent (GETs of /resolve/)."""
        return [p for m, p, _ in self.requests if m == "GET" and "/resolve/" in p]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _error(self, status: int, code: str | None, message: str) -> None:
                body = json.dumps({"error": message}).encode()
                self.send_response(status)
                if code:
                    self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _token(self) -> tuple[bool, str | None]:
                """(valid, token): an unknown token is invalid, no token is valid."""
                auth = self.headers.get("Authorization")
                with hub._lock:
                    hub.authorizations.append(auth)
                if not auth:
                    return True, None
                token = auth.removeprefix("Bearer ").strip()
                return token in hub.tokens, token

            def do_HEAD(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                url = urlsplit(self.path)
                path = unquote(url.path)
                with hub._lock:
                    hub.requests.append((self.command, path, self.headers.get("Range")))
                valid, token = self._token()
                if not valid:
                    self._error(401, None, "Invalid credentials in Authorization header")
                    return
                if path.startswith("/api/models/"):
                    self._info(url.path, parse_qs(url.query))
                elif "/resolve/" in path:
                    self._resolve(url.path, token)
                else:
                    self._error(404, None, "Not Found")

            def _repo(self, repo_id: str) -> Repo | None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    self._error(404, "RepoNotFound", "Repository not found")
                return repo

            def _info(self, raw: str, query: dict) -> None:
                rest = raw.removeprefix("/api/models/")
                repo_id, _, revision = rest.partition("/revision/")
                repo = self._repo(unquote(repo_id))
                if repo is None:
                    return
                commit = repo.resolve(unquote(revision) or "main")
                if commit is None:
                    self._error(404, "RevisionNotFound", f"Invalid rev id: {unquote(revision)}")
                    return
                blobs = query.get("blobs", ["false"])[0].lower() == "true"
                body = json.dumps(
                    {
                        "_id": "0" * 24,
                        "id": unquote(repo_id),
                        "modelId": unquote(repo_id),
                        "sha": commit,
                        "private": False,
                        "gated": "manual" if repo.gated else False,
                        "disabled": False,
                        "siblings": [repo.sibling(p, blobs) for p in sorted(repo.files)],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _resolve(self, raw: str, token: str | None) -> None:
                repo_part, _, rest = raw.lstrip("/").partition("/resolve/")
                repo = self._repo(unquote(repo_part))
                if repo is None:
                    return
                revision, _, file_path = rest.partition("/")
                revision, file_path = unquote(revision), unquote(file_path)
                commit = repo.resolve(revision)
                if commit is None:
                    self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                    return
                if repo.gated and token not in repo.granted:
                    name = unquote(repo_part)
                    if token is None:
                        self._error(
                            401,
                            "GatedRepo",
                            f"Access to model {name} is restricted. You must have access to "
                            "it and be authenticated to access it. Please log in.",
                        )
                    else:
                        self._error(
                            403,
                            "GatedRepo",
                            f"Access to model {name} is restricted and you are not in the "
                            "authorized list. Visit the model page to ask for access.",
                        )
                    return
                content = repo.files.get(file_path)
                if content is None:
                    self._error(404, "EntryNotFound", f"{file_path} does not exist")
                    return
                sibling = repo.sibling(file_path, blobs=True)
                etag = sibling["lfs"]["sha256"] if "lfs" in sibling else sibling["blobId"]
                start = 0
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes=") and self.command == "GET":
                    start = int(ranged[len("bytes=") :].split("-")[0] or 0)
                body = content[start:]
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{etag}"')
                if "lfs" in sibling:
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                    self.send_header("X-Linked-Size", str(len(content)))
                self.send_header("Accept-Ranges", "bytes")
                if start:
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}"
                    )
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if self.command == "HEAD":
                    return
                with hub._lock:
                    cut = hub.cut_after.pop(file_path, None)
                if cut is not None and cut < len(body):
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler
