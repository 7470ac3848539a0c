"""`mesh serve` speaks the Delta Sharing protocol: the real `delta-sharing` client from PyPI
reads governed products through it, and everything outside a caller's grants, or past a
credential's or a URL's life, is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import delta_sharing
import pyarrow.parquet as pq
import pytest
import requests
from deltalake import DeltaTable

from platform_lib.config import MeshPaths
from platform_lib.governance import access
from platform_lib.governance.secrets import key, masking_key
from platform_lib.ops.notebook import Mesh

from tests.helpers import expire_token, mesh, mesh_in_process

PREFIX = "/delta-sharing"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_serving(endpoint: str, process: subprocess.Popen) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            requests.get(f"{endpoint}/shares", timeout=2)
            return
        except requests.ConnectionError:
            assert process.poll() is None, "mesh serve stopped"
            time.sleep(0.2)
    raise TimeoutError(f"mesh serve did not answer on {endpoint}")


@pytest.fixture(scope="module")
def server(module_mesh, tmp_path_factory):
    """`mesh serve` on a free local port over the module's built mesh, and a profile file
    per principal, written by `mesh token issue --out`."""
    root = module_mesh
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}{PREFIX}"
    env = {"MESH_SERVE_URL": endpoint}
    process = subprocess.Popen([str(Path(sys.executable).parent / "mesh"), "serve", "--root", str(root)],
                               env={**os.environ, **env})
    folder = tmp_path_factory.mktemp("profiles")

    def profile(principal: str) -> Path:
        path = folder / f"{principal}.share"
        if not path.exists():
            mesh_in_process("token", "issue", principal, "--out", str(path), root=root, env=env, check=True)
        return path

    wait_serving(endpoint, process)
    yield root, endpoint, profile
    process.terminate()
    process.wait(timeout=30)


def bearer(profile: Path) -> dict:
    return {"Authorization": f"Bearer {json.loads(profile.read_text())['bearerToken']}"}


def test_a_principal_lists_exactly_the_shares_its_grants_allow_and_reads_a_product(server):
    root, _, profile = server
    maria = profile("maria.marketing")
    client = delta_sharing.SharingClient(str(maria))
    # maria.marketing owns marketing and holds no grant elsewhere.
    assert [s.name for s in client.list_shares()] == ["marketing"]
    tables = {f"{t.share}.{t.schema}.{t.name}" for t in client.list_all_tables()}
    assert "marketing.web_behavior.v1" in tables and all(t.startswith("marketing.") for t in tables)
    served = delta_sharing.load_as_pandas(f"{maria}#marketing.web_behavior.v1")
    direct = DeltaTable(str(MeshPaths(root).port("marketing", "web_behavior", 1))).to_pandas()
    key_columns = ["account_id", "activity_date"] if "activity_date" in direct else list(direct.columns[:2])
    assert len(served) == len(direct) > 0
    assert served.sort_values(key_columns).reset_index(drop=True).equals(direct.sort_values(key_columns).reset_index(drop=True))
    assert len(delta_sharing.load_as_pandas(f"{maria}#marketing.web_behavior.v1", limit=5)) == 5
    # The owner reads raw PII.
    owner_rows = delta_sharing.load_as_pandas(f"{maria}#marketing.lead_scoring_signals.v1")
    assert owner_rows["email"].str.contains("@").any()
    entries = [json.loads(line) for line in (root / "audit" / "access.jsonl").read_text().splitlines()]
    served_reads = [e for e in entries if e["principal"] == "maria.marketing" and e["purpose"].startswith("served")]
    assert {e["product"] for e in served_reads} >= {"marketing.web_behavior", "marketing.lead_scoring_signals"}


def test_a_grant_without_pii_gets_keyed_pseudonyms_stable_for_joins(server):
    root, _, profile = server
    dana = profile("dana.sdr")
    client = delta_sharing.SharingClient(str(dana))
    assert sorted(s.name for s in client.list_shares()) == ["marketing", "revenue_operations"]
    masked = delta_sharing.load_as_pandas(f"{dana}#marketing.lead_scoring_signals.v1")
    raw = DeltaTable(str(MeshPaths(root).port("marketing", "lead_scoring_signals", 1))).to_pandas()
    assert not masked["email"].dropna().str.contains("@").any()
    secret = masking_key(MeshPaths(root))
    expected = {access.pseudonym(e, secret) for e in raw["email"].dropna()}
    assert set(masked["email"].dropna()) == expected
    assert not expected & {"sha256:" + hashlib.sha256(e.encode()).hexdigest() for e in raw["email"].dropna()}
    # The same pseudonyms as every other read path (a governed `mesh read`): they join.
    cli = mesh_in_process("read", "marketing.lead_scoring_signals", "--format", "json", "--limit", "100000",
                          root=root, principal="dana.sdr", check=True)
    assert {r["email"] for r in json.loads(cli.stdout) if r["email"]} == expected
    # No raw PII in any Delta log (commits and checkpoints) of any port or masked twin.
    emails = set(raw["email"].dropna())
    logs = [f for f in (root / "products").rglob("_delta_log/*") if f.is_file()]
    assert any(f.name.endswith(".json") for f in logs)
    for log in logs:
        text = json.dumps(pq.read_table(log).to_pylist(), default=str) if log.suffix == ".parquet" else log.read_text()
        assert not any(e in text for e in emails), log


def test_what_is_not_granted_is_not_there(server):
    _, endpoint, profile = server
    dana = profile("dana.sdr")
    with pytest.raises(requests.HTTPError, match="404"):
        delta_sharing.load_as_pandas(f"{dana}#sales.opportunity_pipeline.v1")
    headers = bearer(dana)
    assert requests.get(f"{endpoint}/shares/sales/schemas", headers=headers).status_code == 404
    assert requests.get(f"{endpoint}/shares/sales/all-tables", headers=headers).status_code == 404
    for share, schema, table in (("..", "..", "v1"), ("marketing", "lead_scoring_signals", "v1.masked"),
                                 ("marketing", "lead_scoring_signals%27%20OR%201%3D1", "v1"),
                                 ("marketing", "..%2F..%2Fidentity", "v1"), ("marketing", "web_behavior", "v1%2F..")):
        got = requests.post(f"{endpoint}/shares/{share}/schemas/{schema}/tables/{table}/query", headers=headers, json={})
        assert got.status_code in (404, 400), (share, schema, table, got.status_code)


def test_hints_the_server_cannot_hold_are_refused_not_a_server_error(server):
    _, endpoint, profile = server
    headers = {**bearer(profile("maria.marketing")), "Content-Type": "application/json"}
    query = f"{endpoint}/shares/marketing/schemas/web_behavior/tables/v1/query"
    for body in ('{"limitHint": 1e400}', '{"limitHint": Infinity}', '{"version": -1}', '{"version": 1.5}', '[1]',
                 '{"limitHint": "' + "9" * 400 + '"}', "{" + " " * 70_000 + "}"):
        answer = requests.post(query, headers=headers, data=body)
        assert answer.status_code == 400, (body[:40], answer.status_code, answer.text[:200])


def test_no_expired_or_revoked_credential_reads(server):
    root, endpoint, profile = server
    assert requests.get(f"{endpoint}/shares").status_code == 401
    assert requests.get(f"{endpoint}/shares", headers={"Authorization": "Bearer mesh_forged"}).status_code == 401
    made = mesh_in_process("token", "issue", "frank.finance", root=root, check=True)
    secret, token_id = made.stdout.strip(), made.stderr.split()[0]
    headers = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{endpoint}/shares", headers=headers).status_code == 200
    mesh_in_process("token", "revoke", token_id, root=root, check=True)
    refused = requests.get(f"{endpoint}/shares", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    made = mesh_in_process("token", "issue", "frank.finance", root=root, check=True)
    secret, token_id = made.stdout.strip(), made.stderr.split()[0]
    expire_token(root, token_id)
    expired = requests.get(f"{endpoint}/shares", headers={"Authorization": f"Bearer {secret}"})
    assert expired.status_code == 401 and "expired" in expired.json()["message"]


def test_a_signed_url_works_once_issued_and_not_altered_expired_elsewhere_or_after_its_token(server):
    root, endpoint, profile = server
    made = mesh_in_process("token", "issue", "maria.marketing", root=root, check=True)
    secret, token_id = made.stdout.strip(), made.stderr.split()[0]
    answer = requests.post(f"{endpoint}/shares/marketing/schemas/web_behavior/tables/v1/query",
                           headers={"Authorization": f"Bearer {secret}"}, json={})
    url = next(json.loads(line)["file"]["url"] for line in answer.text.splitlines() if '"file"' in line)
    assert url.startswith(endpoint + "/files/")  # the configured endpoint, whatever Host the request named
    assert requests.get(url).status_code == 200
    assert requests.get(url[:-1] + ("0" if url[-1] != "0" else "1")).status_code == 403  # tampered signature
    path = url.split(f"{PREFIX}/files/")[1].split("?")[0]
    other = path.replace("web_behavior", "lead_scoring_signals")
    assert requests.get(url.replace(path, other)).status_code == 403  # the signature names the file
    for junk in ("exp=\u00b9\u00b2", "sig=\u00e9", "by=T-0001%0a"):  # malformed parts: refused, never a server error
        name = junk.split("=")[0]
        broken = re.sub(rf"{name}=[^&]*", junk.encode().decode("unicode_escape"), url)
        assert requests.get(broken).status_code == 403, junk
    signing = key(MeshPaths(root), "url-signing")

    def signed(rel: str, expires: int, who: str = "maria.marketing") -> str:
        sig = hmac.new(signing, f"{rel}\n{expires}\n{token_id}\n{who}".encode(), hashlib.sha256).hexdigest()
        # `..` stays encoded past the client's own path normalization
        return f"{endpoint}/files/{quote(rel, safe='/').replace('..', '%2E%2E')}?exp={expires}&by={token_id}&who={who}&sig={sig}"

    gone = requests.get(signed(path, int(time.time()) - 1))
    assert gone.status_code == 403 and "expired" in gone.json()["message"]
    # A URL is good for the table as served to whom it was handed: not for the raw port of a
    # product served to that principal masked, even signed.
    raw = path.replace("web_behavior/v1/", "lead_scoring_signals/v1/")
    twin_file = next((MeshPaths(root).port("marketing", "lead_scoring_signals", 1)).glob("*.parquet")).name
    raw = "/".join([*raw.split("/")[:3], twin_file])
    assert requests.get(signed(raw, int(time.time()) + 60, who="dana.sdr")).status_code == 403
    # Even a validly signed path serves only a port's data files.
    for rel in ("../identity/tokens.json", "marketing/web_behavior/v1/_delta_log/00000000000000000000.json"):
        assert requests.get(signed(rel, int(time.time()) + 60)).status_code in (403, 404), rel
    # The URLs handed out under a token die with it.
    mesh_in_process("token", "revoke", token_id, root=root, check=True)
    dead = requests.get(url)
    assert dead.status_code == 403 and "revoked" in dead.json()["message"]
    # Nothing is served without a credential but the files: no schema or docs pages.
    assert all(requests.get(endpoint.removesuffix(PREFIX) + page).status_code == 404 for page in ("/docs", "/openapi.json"))


def test_the_change_feed_reads_through_the_server(server):
    root, _, profile = server
    maria = profile("maria.marketing")
    changes = delta_sharing.load_table_changes_as_pandas(f"{maria}#marketing.web_behavior.v1", starting_version=0)
    port = DeltaTable(str(MeshPaths(root).port("marketing", "web_behavior", 1)))
    expected = port.load_cdf(starting_version=0).read_all()
    assert len(changes) == expected.num_rows > 0
    assert set(changes["_change_type"]) == set(expected.column("_change_type").to_pylist())


def test_a_new_masking_key_rotates_every_pseudonym_at_the_next_build(server, tmp_path):
    root, endpoint, profile = server
    dana = profile("dana.sdr")
    before = set(delta_sharing.load_as_pandas(f"{dana}#marketing.lead_scoring_signals.v1")["email"].dropna())
    new_key = "a-new-key-from-the-secret-store"
    rotated = {"MESH_MASKING_KEY": new_key, "MESH_WORKERS": "1"}
    built = mesh_in_process("build", "--select", "marketing.lead_scoring_signals", root=root, env=rotated)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    # A server still on the old key serves no twin it cannot vouch for: refused, not stale.
    with pytest.raises(requests.HTTPError, match="masked copy is being remade"):
        delta_sharing.load_as_pandas(f"{dana}#marketing.lead_scoring_signals.v1")
    # Given the new key too, it serves the pseudonyms made under it.
    port = _free_port()
    moved = tmp_path / "dana.share"
    moved.write_text(json.dumps({**json.loads(dana.read_text()), "endpoint": f"http://127.0.0.1:{port}{PREFIX}"}))
    process = subprocess.Popen([str(Path(sys.executable).parent / "mesh"), "serve", "--root", str(root), "--port", str(port)],
                               env={**os.environ, "MESH_MASKING_KEY": new_key, "MESH_SERVE_URL": f"http://127.0.0.1:{port}{PREFIX}"})
    try:
        wait_serving(f"http://127.0.0.1:{port}{PREFIX}", process)
        after = set(delta_sharing.load_as_pandas(f"{moved}#marketing.lead_scoring_signals.v1")["email"].dropna())
    finally:
        process.terminate()
        process.wait(timeout=30)
    raw = DeltaTable(str(MeshPaths(root).port("marketing", "lead_scoring_signals", 1))).to_pandas()["email"].dropna()
    assert after == {access.pseudonym(e, new_key.encode()) for e in raw}
    assert len(after) == len(before) and not after & before
    # Back to the mesh's own key, as the module's server has it.
    mesh_in_process("build", "--select", "marketing.lead_scoring_signals", root=root, env={"MESH_WORKERS": "1"}, check=True)
    assert set(delta_sharing.load_as_pandas(f"{dana}#marketing.lead_scoring_signals.v1")["email"].dropna()) == before


def test_the_cli_and_the_notebook_api_read_through_the_server(server, tmp_path):
    """From a machine with no access to the stores: a profile file is all it takes."""
    root, _, profile = server
    frank = profile("frank.finance")
    elsewhere = {"MESH_PROFILE": str(frank), "MESH_HOME": str(tmp_path / "no-mesh-here")}
    cli = mesh("read", "sales.opportunity_pipeline", "--remote", "--columns", "opportunity_id,stage", "--where",
               "stage = proposal", "--limit", "5", "--format", "json", root=tmp_path / "no-mesh-here", env=elsewhere)
    assert cli.returncode == 0, cli.stderr
    rows = json.loads(cli.stdout)
    assert 0 < len(rows) <= 5 and all(r["stage"] == "proposal" and set(r) == {"opportunity_id", "stage"} for r in rows)
    refused = mesh("read", "marketing.web_behavior", "--remote", root=tmp_path / "no-mesh-here", env=elsewhere)
    assert refused.returncode != 0 and "no product marketing.web_behavior is shared with you" in refused.stderr

    remote = Mesh(profile=frank, remote=True)
    listed = set(remote.catalog()["product"])
    assert listed == {"sales.opportunity_pipeline", "customer_success.account_health", "product.product_health_scores",
                      "revenue_operations.account_360"}
    combined = remote.combine(["sales.opportunity_pipeline", "customer_success.account_health"], on="account_id")
    assert len(combined) and "risk_tier" in combined.columns
    dana = Mesh(profile=profile("dana.sdr"), remote=True)
    emails = dana.read("marketing.lead_scoring_signals", columns=["email"])["email"].dropna()
    assert len(emails) and all(e.startswith("pseudonym:") for e in emails)


def test_retention_takes_the_masked_twin_with_the_rows_it_expires(server):
    """Rows past retention leave the masked twin too, every version of it: until the next
    build remakes it, a reader without PII access gets nothing rather than expired rows."""
    from datetime import timedelta as days

    from platform_lib.dagster.workspace import code_locations, declared_products
    from platform_lib.privacy.retention import expire_port

    root, _, profile = server
    dana = profile("dana.sdr")
    product = next(p for p in declared_products(code_locations()) if p.id == "marketing.lead_scoring_signals")
    port = MeshPaths(root).port("marketing", "lead_scoring_signals", 1)
    assert (port.parent / "v1.masked").is_dir()
    removed, _ = expire_port(port, product, 0, datetime.now(timezone.utc) + days(days=product.retention_days + 3650))
    assert removed > 0 and not (port.parent / "v1.masked").exists()
    with pytest.raises(requests.HTTPError, match="404"):
        delta_sharing.load_as_pandas(f"{dana}#marketing.lead_scoring_signals.v1", version=0)
