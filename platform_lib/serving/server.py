"""`mesh serve`: the data products over the Delta Sharing open protocol, so any Delta
Sharing client (the `delta-sharing` Python connector, Spark, Power BI, Tableau) reads
governed products.

Every request but a file download presents a bearer credential (a mesh token or an OpenID
Connect access token); shares, schemas and tables follow the caller's active grants
(`serving.shares`). A query answers with the files of the asked version, each as a URL to
this same server, signed (HMAC-SHA256 under the platform's URL key) and valid for
`URL_SECONDS`: the signature names the file, so an altered or expired URL is refused.
Responses use the protocol's parquet format; every query and change read is in the
access audit log.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import hashlib
import hmac
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
from deltalake import DeltaTable
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from platform_lib.config import MeshPaths, settings
from platform_lib.governance import access, identity, secrets
from platform_lib.serving import shares

PREFIX = "/delta-sharing"
NDJSON = "application/x-ndjson; charset=utf-8"
VERSION_HEADER = "delta-table-version"
CAPABILITIES = "delta-sharing-capabilities"
URL_SECONDS = 900  # the client never refreshes a URL: it must outlive one whole read
PAGE = 100
MAX_BODY = 64 * 1024  # a query names hints, never data
PURPOSE = "served over Delta Sharing"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _json_value(v: Any) -> Any:
    """A statistics value as Delta writes it in JSON."""
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items() if x is not None}
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return v.isoformat(timespec="milliseconds") + "Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return None
    return v


def _int_param(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{name} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{name} must be an integer") from None
    if not 0 <= number < 2**53:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{name} must be between 0 and 2^53")
    return number


def _files(table: DeltaTable) -> list[dict]:
    """The data files of a version, with their statistics (`get_add_actions`; its paths
    are the log's, URL-encoded)."""
    out = []
    for r in pa.table(table.get_add_actions(flatten=False)).to_pylist():
        stats = None
        if r.get("num_records") is not None:
            stats = json.dumps({"numRecords": r["num_records"], "minValues": _json_value(r.get("min") or {}),
                                "maxValues": _json_value(r.get("max") or {}), "nullCount": _json_value(r.get("null_count") or {})},
                               separators=(",", ":"))
        out.append({"path": r["path"], "size": r["size_bytes"], "rows": r.get("num_records"), "stats": stats,
                    "partitionValues": {k: None if v is None else str(v) for k, v in (r.get("partition") or {}).items()}})
    return out


SIGNATURE = re.compile(r"[0-9a-f]{64}")
CREDENTIAL = re.compile(r"T-[0-9]{4,9}|oidc")
PRINCIPAL = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


class Signer:
    """File URLs that name their file, their expiry and the credential they were handed
    out under, sealed with the platform's URL key."""

    def __init__(self, key: bytes):
        self.key = key

    def sign(self, *parts) -> str:
        return hmac.new(self.key, "\n".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()

    def url(self, base: str, rel: str, by: str, who: str) -> tuple[str, int]:
        expires = int(time.time()) + URL_SECONDS
        sig = self.sign(rel, expires, by, who)
        return f"{base}/files/{quote(rel, safe='/')}?exp={expires}&by={by}&who={who}&sig={sig}", expires * 1000

    def refusal(self, rel: str, expires: str | None, by: str | None, who: str | None, sig: str | None) -> str | None:
        if not (expires and expires.isascii() and expires.isdigit() and len(expires) < 12 and by
                and CREDENTIAL.fullmatch(by) and who and PRINCIPAL.fullmatch(who) and sig and SIGNATURE.fullmatch(sig)):
            return "the URL carries no valid signature"
        if not hmac.compare_digest(self.sign(rel, int(expires), by, who), sig):
            return "the URL's signature does not match: it was altered"
        if int(expires) < time.time():
            return "the URL expired: query the table again for fresh ones"
        return None


def create_app(paths: MeshPaths | None = None) -> FastAPI:
    paths = paths or MeshPaths.from_env()
    signer = Signer(secrets.key(paths, "url-signing"))
    # No schema or docs pages: everything the server answers is behind a credential.
    app = FastAPI(title="GTM Data Mesh: Delta Sharing", docs_url=None, redoc_url=None, openapi_url=None)
    # File URLs point at the configured endpoint, never at whatever Host a request named.
    endpoint = settings().serve_url
    api = APIRouter(prefix=PREFIX)

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"errorCode": code, "message": message}, status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError):
        return error(e.status, e.code, e.message)

    @app.exception_handler(shares.NotShared)
    async def _not_shared(_: Request, e: shares.NotShared):
        return error(404, "RESOURCE_DOES_NOT_EXIST", str(e))

    @app.middleware("http")
    async def authenticate(request: Request, call_next):
        path = request.url.path
        if path.startswith(PREFIX + "/") and not path.startswith(PREFIX + "/files/"):
            scheme, _, credential = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not credential:
                return error(401, "UNAUTHENTICATED", "present a bearer token (a profile file's bearerToken)")
            try:
                request.state.principal, request.state.credential = identity.verify(credential, paths)
            except identity.Unauthenticated as err:
                return error(401, "UNAUTHENTICATED", str(err))
        return await call_next(request)

    def visible(request: Request) -> list[shares.SharedTable]:
        return shares.tables(request.state.principal, paths)

    def page(items: list[dict], max_results: Any, token: str | None, scope: str) -> dict:
        size = _int_param(max_results, "maxResults")
        size = PAGE if size is None else max(1, min(size, 1000))
        start = 0
        if token:
            try:
                offset, mac = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii").split("|")
                if not (offset.isdigit() and hmac.compare_digest(mac.encode(), signer.sign(scope, offset)[:16].encode())):
                    raise ValueError
                start = int(offset)
            except (ValueError, UnicodeError, binascii.Error):
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "invalid pageToken") from None
        body: dict = {"items": items[start:start + size]}
        if start + size < len(items):
            mac = signer.sign(scope, start + size)[:16]
            body["nextPageToken"] = base64.urlsafe_b64encode(f"{start + size}|{mac}".encode()).decode()
        return body

    def table_item(t: shares.SharedTable) -> dict:
        return {"name": t.name, "schema": t.schema, "share": t.share, "shareId": _stable_id(t.share),
                "id": _stable_id(t.share, t.schema, t.name)}

    def ndjson(lines: list[dict], version: int) -> Response:
        body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
        return Response(body, media_type=NDJSON, headers={VERSION_HEADER: str(version), CAPABILITIES: "responseformat=parquet"})

    def parquet_only(request: Request) -> None:
        for part in request.headers.get(CAPABILITIES, "").split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() == "responseformat" and "parquet" not in value.lower():
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "this server answers in the parquet response format only; "
                                                               "read without use_delta_format=True")

    def load(t: shares.SharedTable, version: int | None = None) -> DeltaTable:
        try:
            return DeltaTable(str(t.port.path), version=version)
        except Exception:  # deltalake raises several types for a version it does not hold
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{t.share}.{t.schema}.{t.name} has no version {version}") from None

    def metadata_line(table: DeltaTable, files: list[dict] | None = None) -> dict:
        meta = table.metadata()
        line = {"id": meta.id, "name": meta.name, "description": meta.description,
                "format": {"provider": "parquet", "options": {}}, "schemaString": table.schema().to_json(),
                "partitionColumns": list(meta.partition_columns), "version": table.version()}
        if files is not None:
            line |= {"size": sum(f["size"] for f in files), "numFiles": len(files)}
        return {"metaData": {k: v for k, v in line.items() if v is not None}}

    def file_url(request: Request, t: shares.SharedTable, log_path: str) -> tuple[str, str, int]:
        if "://" in log_path or log_path.startswith("/"):
            raise ApiError(500, "INTERNAL_ERROR", "the table names a file outside its folder")
        rel = f"{t.share}/{t.schema}/{t.port.path.name}/{unquote(log_path)}"
        url, expires = signer.url(endpoint, rel, request.state.credential, request.state.principal.id)
        return url, hashlib.sha256(rel.encode()).hexdigest()[:32], expires

    @api.get("/shares")
    def list_shares(request: Request, maxResults: Any = None, pageToken: str | None = None):
        names = sorted({t.share for t in visible(request)})
        return page([{"name": n, "id": _stable_id(n)} for n in names], maxResults, pageToken, "shares")

    @api.get("/shares/{share}")
    def get_share(request: Request, share: str):
        if share not in {t.share for t in visible(request)}:
            raise shares.NotShared(f"no share {share[:64]} is shared with you")
        return {"share": {"name": share, "id": _stable_id(share)}}

    @api.get("/shares/{share}/schemas")
    def list_schemas(request: Request, share: str, maxResults: Any = None, pageToken: str | None = None):
        mine = [t for t in visible(request) if t.share == share]
        if not mine:
            raise shares.NotShared(f"no share {share[:64]} is shared with you")
        names = sorted({t.schema for t in mine})
        return page([{"name": n, "share": share} for n in names], maxResults, pageToken, f"schemas:{share}")

    @api.get("/shares/{share}/schemas/{schema}/tables")
    def list_tables(request: Request, share: str, schema: str, maxResults: Any = None, pageToken: str | None = None):
        mine = [t for t in visible(request) if t.share == share and t.schema == schema]
        if not mine:
            raise shares.NotShared(f"no schema {share[:64]}.{schema[:64]} is shared with you")
        return page([table_item(t) for t in mine], maxResults, pageToken, f"tables:{share}.{schema}")

    @api.get("/shares/{share}/all-tables")
    def list_all_tables(request: Request, share: str, maxResults: Any = None, pageToken: str | None = None):
        mine = [t for t in visible(request) if t.share == share]
        if not mine:
            raise shares.NotShared(f"no share {share[:64]} is shared with you")
        return page([table_item(t) for t in mine], maxResults, pageToken, f"all-tables:{share}")

    @api.api_route("/shares/{share}/schemas/{schema}/tables/{name}/version", methods=["GET", "HEAD"])
    def table_version(request: Request, share: str, schema: str, name: str):
        t = shares.table(request.state.principal, paths, share, schema, name, purpose=PURPOSE)
        return Response(status_code=200, headers={VERSION_HEADER: str(load(t).version())})

    @api.get("/shares/{share}/schemas/{schema}/tables/{name}/metadata")
    def table_metadata(request: Request, share: str, schema: str, name: str):
        t = shares.table(request.state.principal, paths, share, schema, name, purpose=PURPOSE)
        table = load(t)
        return ndjson([{"protocol": {"minReaderVersion": 1}}, metadata_line(table)], table.version())

    @api.post("/shares/{share}/schemas/{schema}/tables/{name}/query")
    async def query(request: Request, share: str, schema: str, name: str):
        t = shares.table(request.state.principal, paths, share, schema, name, purpose=PURPOSE)
        parquet_only(request)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"the request body is over {MAX_BODY} bytes")
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "the request body must be a JSON object") from None
        if body.get("timestamp") is not None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "ask for a version, not a timestamp")
        limit, version = _int_param(body.get("limitHint"), "limitHint"), _int_param(body.get("version"), "version")
        table = load(t, version)
        files = _files(table)
        if limit is not None:  # files until their rows cover the limit: the client applies it exactly
            picked, rows = [], 0
            for f in files:
                if rows >= limit:
                    break
                picked.append(f)
                rows += f["rows"] or 0
            files = picked
        lines = [{"protocol": {"minReaderVersion": 1}}, metadata_line(table, files)]
        for f in files:
            url, file_id, expires = file_url(request, t, f["path"])
            line = {"url": url, "id": file_id, "partitionValues": f["partitionValues"], "size": f["size"],
                    "expirationTimestamp": expires}
            if f["stats"] is not None:
                line["stats"] = f["stats"]
            if version is not None:
                line["version"] = table.version()
            lines.append({"file": line})
        access.record(request.state.principal, t.product_id, t.major, table.schema().to_arrow().names,
                      sum(f["rows"] or 0 for f in files), PURPOSE, t.decision, paths)
        return ndjson(lines, table.version())

    @api.get("/shares/{share}/schemas/{schema}/tables/{name}/changes")
    def changes(request: Request, share: str, schema: str, name: str,
                startingVersion: str | None = None, endingVersion: str | None = None,
                startingTimestamp: str | None = None, endingTimestamp: str | None = None):
        t = shares.table(request.state.principal, paths, share, schema, name, purpose=PURPOSE)
        parquet_only(request)
        if startingTimestamp or endingTimestamp:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "ask for versions, not timestamps")
        latest = load(t).version()
        start, end = _int_param(startingVersion, "startingVersion"), _int_param(endingVersion, "endingVersion")
        if start is None or start > latest:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"startingVersion must be between 0 and {latest}")
        end = latest if end is None else min(end, latest)
        if end < start:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"endingVersion {end} is before startingVersion {start}")
        if load(t, start).metadata().configuration.get("delta.enableChangeDataFeed") != "true":
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"the table has no change feed at version {start}")
        table = load(t, end)
        lines, rows = [{"protocol": {"minReaderVersion": 1}}, metadata_line(table)], 0
        for version in range(start, end + 1):
            commit = t.port.path / "_delta_log" / f"{version:020d}.json"
            try:
                actions = [json.loads(line) for line in commit.read_text().splitlines() if line.strip()]
            except FileNotFoundError:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"version {version}'s changes are no longer kept") from None
            info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
            stamp = int(info.get("inCommitTimestamp") or info.get("timestamp") or commit.stat().st_mtime * 1000)
            with_cdc = any("cdc" in a for a in actions)
            for action in actions:
                kind = next((k for k in ("cdc", "add", "remove") if k in action), None)
                if kind is None or (with_cdc and kind != "cdc") or (kind != "cdc" and not action[kind].get("dataChange", True)):
                    continue
                item = action[kind]
                url, file_id, expires = file_url(request, t, item["path"])
                size = item.get("size")
                if size is None:
                    size = (t.port.path / unquote(item["path"])).stat().st_size
                line = {"url": url, "id": file_id, "partitionValues": item.get("partitionValues") or {}, "size": size,
                        "timestamp": stamp, "version": version, "expirationTimestamp": expires}
                if kind == "add" and item.get("stats"):
                    line["stats"] = item["stats"]
                    rows += json.loads(item["stats"]).get("numRecords", 0)
                lines.append({{"cdc": "cdf", "add": "add", "remove": "remove"}[kind]: line})
        access.record(request.state.principal, t.product_id, t.major, table.schema().to_arrow().names, rows,
                      f"{PURPOSE}: changes {start}..{end}", t.decision, paths)
        return ndjson(lines, start)

    @api.api_route("/files/{rel:path}", methods=["GET", "HEAD"])
    def get_file(rel: str, exp: str | None = None, by: str | None = None, who: str | None = None, sig: str | None = None):
        refusal = signer.refusal(rel, exp, by, who, sig)
        if refusal:
            return error(403, "PERMISSION_DENIED", refusal)
        if not identity.still_valid(paths, by):  # the URLs a token was handed die with it
            return error(403, "PERMISSION_DENIED", "the credential this URL was handed out under is revoked or expired")
        if not shares.still_served(who, paths, rel):  # and with the grant, or the masking, it was handed under
            return error(403, "PERMISSION_DENIED", "the table this URL belongs to is no longer served to you this way")
        root = paths.products.resolve()
        local = (root / rel).resolve()
        if not local.is_relative_to(root) or local.suffix != ".parquet" or not local.is_file():
            return error(404, "RESOURCE_DOES_NOT_EXIST", "no such file")
        # FileResponse answers HEAD and byte ranges, which the client's HTTP reader needs.
        return FileResponse(local, media_type="application/octet-stream")

    app.include_router(api)
    return app


def serve(host: str, port: int, paths: MeshPaths | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(paths), host=host, port=port, log_level="warning", access_log=False)
