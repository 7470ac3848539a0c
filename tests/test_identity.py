"""A caller proves who it is: tokens issued, stored as hashes, expiring and revocable;
OpenID Connect access tokens verified against the issuer's keys; environment variables that
once named a caller or moved the registries gain nothing; the audit log finds every way of
cutting it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from platform_lib.config import PROJECT_ROOT, MeshPaths
from platform_lib.governance import audit_log, identity

from tests.helpers import expire_token, mesh, mesh_in_process, token_for


def issue(root: Path, principal: str, *extra: str, token: str | None = None):
    """`mesh token issue` as the operator (no credential) or with `token`."""
    return mesh_in_process("token", "issue", principal, *extra, root=root,
                           env={"MESH_TOKEN": token} if token else None)


def test_a_token_is_shown_once_stored_as_a_hash_and_proves_its_principal(module_mesh, tmp_path):
    root = module_mesh
    profile = tmp_path / "frank.share"
    made = issue(root, "maria.marketing", "--out", str(profile))
    assert made.returncode == 0, made.stderr
    content = json.loads(profile.read_text())
    assert set(content) == {"shareCredentialsVersion", "endpoint", "bearerToken", "expirationTime"}
    assert content["shareCredentialsVersion"] == 1 and content["endpoint"].startswith("http")
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    secret = content["bearerToken"]
    store = (root / "identity" / "tokens.json").read_text()
    assert secret not in store and identity._digest(secret) in store
    read = mesh("read", "marketing.web_behavior", "--limit", "2", root=root, env={"MESH_PROFILE": str(profile)})
    assert read.returncode == 0, read.stderr
    entries = [json.loads(line) for line in (root / "audit" / "access.jsonl").read_text().splitlines()]
    assert entries[-1]["principal"] == "maria.marketing" and secret not in json.dumps(entries)


def test_no_credential_an_unknown_one_a_revoked_or_an_expired_one_reads_nothing(module_mesh):
    root = module_mesh
    bare = mesh_in_process("read", "marketing.web_behavior", root=root)
    assert bare.returncode != 0 and "no credential" in bare.stderr and "mesh token issue" in bare.stderr
    forged = "mesh_" + "A" * 43
    refused = mesh_in_process("read", "marketing.web_behavior", root=root, env={"MESH_TOKEN": forged})
    assert refused.returncode != 0 and "not one the mesh issued" in refused.stderr and forged not in refused.stderr

    made = issue(root, "maria.marketing")
    secret, token_id = made.stdout.strip(), made.stderr.split()[0]
    assert mesh_in_process("read", "marketing.web_behavior", root=root, env={"MESH_TOKEN": secret}).returncode == 0
    assert mesh_in_process("token", "revoke", token_id, root=root).returncode == 0
    revoked = mesh_in_process("read", "marketing.web_behavior", root=root, env={"MESH_TOKEN": secret})
    assert revoked.returncode != 0 and f"token {token_id} is revoked" in revoked.stderr

    made = issue(root, "maria.marketing")
    secret, token_id = made.stdout.strip(), made.stderr.split()[0]
    expire_token(root, token_id)
    expired = mesh_in_process("read", "marketing.web_behavior", root=root, env={"MESH_TOKEN": secret})
    assert expired.returncode != 0 and f"token {token_id} is expired" in expired.stderr
    listed = mesh_in_process("token", "list", root=root, check=True).stdout
    assert "revoked" in listed and "expired" in listed and secret not in listed


def test_only_a_platform_admin_or_the_operator_manages_tokens(module_mesh):
    root = module_mesh
    refused = issue(root, "platform.admin", token=token_for(root, "maria.marketing"))
    assert refused.returncode != 0 and "maria.marketing is not a platform admin" in refused.stderr
    by_admin = issue(root, "dana.sdr", token=token_for(root, "platform.admin"))
    assert by_admin.returncode == 0, by_admin.stderr
    record = next(t for t in identity.tokens(MeshPaths(root)) if t.id == by_admin.stderr.split()[0])
    assert record.issued_by == "platform.admin"
    unknown = issue(root, "nobody.here")
    assert unknown.returncode != 0 and "not in governance/principals.yaml" in unknown.stderr


def test_an_identity_provider_named_in_the_environment_is_not_trusted(module_mesh, issuer):
    """Only the registry names the identity provider: a caller's environment pointing at its
    own issuer, with a token it signed, gains nothing."""
    root = module_mesh
    token = issuer({"preferred_username": "platform.admin"})
    env = {"MESH_OIDC_ISSUER": "http://127.0.0.1:1", "MESH_OIDC_AUDIENCE": "gtm-mesh", "MESH_TOKEN": token}
    out = mesh("token", "issue", "dana.sdr", root=root, env=env)  # a new process, with the deployed registry
    assert out.returncode != 0 and "neither a mesh token nor an access token" in out.stderr


def test_naming_a_principal_or_moving_the_registries_gains_nothing(module_mesh, tmp_path):
    root = module_mesh
    # An attacker's registry: dana.sdr as an owner of marketing, with a PII grant everywhere.
    evil = tmp_path / "governance"
    evil.mkdir()
    (evil / "principals.yaml").write_text(yaml.safe_dump({"principals": [
        {"id": "dana.sdr", "kind": "person", "team": "marketing", "role": "Marketing Operations Lead", "platform_admin": True}]}))
    (evil / "grants.yaml").write_text(yaml.safe_dump({"grants": [
        {"id": "G-6666", "consumer": "dana.sdr", "product": "sales.opportunity_pipeline", "major": 1, "purpose": "x",
         "pii_allowed": True, "approver": "dana.sdr", "granted": "2020-01-01", "expires": "2099-01-01"}]}))
    empty_contracts = tmp_path / "contracts"
    empty_contracts.mkdir()
    dana = token_for(root, "dana.sdr")
    env = {"MESH_PRINCIPAL": "maria.marketing", "MESH_GOVERNANCE": str(evil), "MESH_CONTRACTS": str(empty_contracts)}

    named = mesh("read", "marketing.lead_scoring_signals", "--format", "json", root=root, env=env)
    assert named.returncode != 0 and "no credential" in named.stderr
    assert "MESH_PRINCIPAL is no longer read" in named.stderr
    # With dana's own token, the variables change nothing: PII stays masked, ungranted stays refused.
    masked = mesh("read", "marketing.lead_scoring_signals", "--format", "json", root=root, env={**env, "MESH_TOKEN": dana})
    assert masked.returncode == 0, masked.stderr
    assert "@" not in masked.stdout and "pseudonym:" in masked.stdout
    refused = mesh("read", "sales.opportunity_pipeline", root=root, env={**env, "MESH_TOKEN": dana})
    assert refused.returncode != 0 and "dana.sdr has no active grant" in refused.stderr
    not_admin = mesh("token", "issue", "platform.admin", root=root, env={**env, "MESH_TOKEN": dana})
    assert not_admin.returncode != 0 and "not a platform admin" in not_admin.stderr


class _Issuer(BaseHTTPRequestHandler):
    """An OpenID Connect issuer's discovery document and keys, served over HTTP."""

    documents: dict[str, bytes] = {}

    def do_GET(self):
        body = self.documents.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body or b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def issuer(configure, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Issuer)
    url = f"http://127.0.0.1:{server.server_port}"
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    _Issuer.documents = {
        "/.well-known/openid-configuration": json.dumps({"issuer": url, "jwks_uri": f"{url}/keys"}).encode(),
        "/keys": json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode(),
    }
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The provider is part of the reviewed registry: a deployment's copy names it.
    governance = tmp_path / "governance"
    shutil.copytree(PROJECT_ROOT / "governance", governance)
    (governance / "identity.yaml").write_text(yaml.safe_dump(
        {"oidc": {"issuer": url, "audience": "gtm-mesh", "principal_claim": "preferred_username"}}))
    configure(governance=str(governance))
    from platform_lib.governance import oidc

    oidc._keys.cache_clear()

    def sign(claims: dict, signing_key=key, algorithm="RS256", kid="k1") -> str:
        body = {"iss": url, "aud": "gtm-mesh", "iat": int(time.time()), "exp": int(time.time()) + 300,
                "preferred_username": "frank.finance", **claims}
        return jwt.encode({k: v for k, v in body.items() if v is not None}, signing_key, algorithm=algorithm, headers={"kid": kid})

    yield sign
    server.shutdown()
    oidc._keys.cache_clear()


def test_an_access_token_from_the_configured_issuer_proves_its_principal(issuer, tmp_path):
    paths = MeshPaths(tmp_path / "mesh")
    assert identity.authenticate(issuer({}), paths).id == "frank.finance"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "another audience": issuer({"aud": "someone-else"}),
        "expired": issuer({"exp": int(time.time()) - 3600}),
        "another issuer": issuer({"iss": "https://evil.example"}),
        "signed with another key": issuer({}, signing_key=other_key),
        "symmetric signature": jwt.encode({"iss": "x", "aud": "gtm-mesh", "exp": int(time.time()) + 60,
                                           "preferred_username": "platform.admin"}, "secret", algorithm="HS256",
                                          headers={"kid": "k1"}),
        "unregistered principal": issuer({"preferred_username": "mallory"}),
        "a service account": issuer({"preferred_username": "svc_marketing"}),
        "living two days": issuer({"exp": int(time.time()) + 2 * 86400}),
        "no issue time": issuer({"iat": None}),
    }
    for case, token in refused.items():
        with pytest.raises(identity.Unauthenticated):
            identity.authenticate(token, paths)
            pytest.fail(case)


# The audit log: every way of cutting it is found, on a copy of a log with real reads in it.
def _cut(log: Path, head: Path) -> dict:
    def edit(lines):
        entry = json.loads(lines[0])
        entry["rows"] += 1
        return [json.dumps(entry, sort_keys=True), *lines[1:]]

    def rechain(lines):  # take out the second entry and link the rest up again, hashes recomputed
        entries = [json.loads(line) for n, line in enumerate(lines) if n != 1]
        prev = audit_log.GENESIS
        for seq, entry in enumerate(entries, start=1):
            entry["prev"], entry["seq"] = prev, seq
            entry["hash"] = prev = audit_log._digest(entry)
        return [json.dumps(e, sort_keys=True) for e in entries]

    def forge(lines):
        last = json.loads(lines[-1])
        entry = {**last, "seq": last["seq"] + 1, "prev": last["hash"], "principal": "dana.sdr"}
        entry["hash"] = audit_log._digest(entry)
        return [*lines, json.dumps(entry, sort_keys=True)]

    return {
        "an entry edited": (lambda: log.write_text("\n".join(edit(log.read_text().splitlines())) + "\n"), "entry 1 was modified"),
        "the newest entries removed": (lambda: log.write_text("\n".join(log.read_text().splitlines()[:-2]) + "\n"),
                                       "the newest 2 entries were removed"),
        "truncated": (lambda: log.write_text(""), "is empty"),
        "deleted": (lambda: log.unlink(), "is missing"),
        "re-chained": (lambda: log.write_text("\n".join(rechain(log.read_text().splitlines())) + "\n"), "not sealed by the platform"),
        "an entry forged at the end": (lambda: log.write_text("\n".join(forge(log.read_text().splitlines())) + "\n"),
                                       "not sealed by the platform"),
        "log and head deleted": (lambda: (log.unlink(), head.unlink()), "head"),
        "head rewritten": (lambda: head.write_text(json.dumps({"seq": 1, "hash": "0" * 64, "seal": "0" * 64})), "edited"),
    }


CASES = list(_cut(Path("."), Path(".")))


@pytest.mark.parametrize("case", CASES)
def test_every_way_of_cutting_the_audit_log_is_found(built_marketing, case, tmp_path):
    root = built_marketing[0]
    for _ in range(3):
        mesh_in_process("read", "marketing.web_behavior", "--limit", "1", root=root, principal="maria.marketing", check=True)
    copy = tmp_path / "mesh"
    for folder in ("audit", "identity"):
        shutil.copytree(root / folder, copy / folder)
    assert "intact" in mesh_in_process("audit", "verify", root=copy, check=True).stdout
    cut, says = _cut(copy / "audit" / "access.jsonl", copy / "identity" / "audit.head")[case]
    cut()
    out = mesh_in_process("audit", "verify", root=copy)
    assert out.returncode == 1 and says in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_a_mesh_nothing_was_read_from_says_so(tmp_path):
    out = mesh_in_process("audit", "verify", root=tmp_path, check=True)
    assert "0 entries verified (no reads recorded yet)" in out.stdout
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "access.jsonl").write_text("")
    assert "the log is empty" in mesh_in_process("audit", "verify", root=tmp_path, check=True).stdout


def test_the_stores_are_readable_by_their_owner_only(module_mesh, tmp_path):
    """What the platform creates under the mesh root (warehouses, ports, the Dagster
    instance, the audit log, tokens and keys) is closed to other accounts: they read
    through `mesh serve` with a token."""
    root = module_mesh
    mesh_in_process("read", "marketing.web_behavior", "--limit", "1", root=root, principal="maria.marketing", check=True)
    open_to_others = [str(p.relative_to(root)) for p in root.rglob("*")
                      if p.relative_to(root).parts[0] != "landing" and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert open_to_others == []
    if os.geteuid() == 0:  # another account, given a path to a port's file, cannot open it
        import subprocess
        import tempfile

        port_file = next((root / "products" / "marketing" / "web_behavior" / "v1").glob("*.parquet"))
        reachable = Path(tempfile.mkdtemp())
        reachable.chmod(0o755)
        shutil.copy2(port_file, reachable / "private.parquet")  # its mode comes along; the folder is open
        shutil.copyfile(port_file, reachable / "open.parquet")
        (reachable / "open.parquet").chmod(0o644)
        try:
            tried = {name: subprocess.run(["cat", str(reachable / name)], user=65534, capture_output=True)
                     for name in ("private.parquet", "open.parquet")}
        finally:
            shutil.rmtree(reachable)
        assert tried["open.parquet"].returncode == 0  # the account could read a file left open
        assert tried["private.parquet"].returncode != 0 and b"Permission denied" in tried["private.parquet"].stderr


def test_a_head_kept_elsewhere_catches_what_the_key_holder_could_do(built_marketing, tmp_path):
    """The account holding the platform's key can put back an older log, delete log, head
    and key together, or re-seal a rewritten log; a head kept outside the mesh (`mesh audit
    head`) catches all three."""
    root = built_marketing[0]
    read = ("read", "marketing.web_behavior", "--limit", "1")

    def snapshot(name: str) -> Path:
        into = tmp_path / name
        for folder in ("audit", "identity"):
            shutil.copytree(root / folder, into / folder)
        return into

    mesh_in_process(*read, root=root, principal="maria.marketing", check=True)
    older = snapshot("older")
    mesh_in_process(*read, root=root, principal="maria.marketing", check=True)
    kept = mesh_in_process("audit", "head", root=root, check=True).stdout.strip()
    cases = {}
    rolled_back = snapshot("rolled-back")
    shutil.rmtree(rolled_back / "audit")
    shutil.copytree(older / "audit", rolled_back / "audit")
    shutil.copy(older / "identity" / "audit.head", rolled_back / "identity" / "audit.head")
    cases["an older copy put back"] = (rolled_back, "fewer than")
    gone = snapshot("gone")
    shutil.rmtree(gone / "audit")
    for name in ("audit.head", "audit.key"):
        (gone / "identity" / name).unlink()
    cases["log, head and key deleted"] = (gone, "fewer than")
    resealed = snapshot("resealed")
    key = (resealed / "identity" / "audit.key").read_text().strip()
    entries = [json.loads(line) for line in (resealed / "audit" / "access.jsonl").read_text().splitlines()]
    entries[0]["rows"] += 1
    prev = audit_log.GENESIS
    for entry in entries:
        entry["prev"] = prev
        entry["hash"] = prev = audit_log._digest(entry)
        entry["seal"] = audit_log._seal(bytes.fromhex(key), "entry", entry["seq"], entry["hash"])
    (resealed / "audit" / "access.jsonl").write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    (resealed / "identity" / "audit.head").write_text(json.dumps(
        {"seq": entries[-1]["seq"], "hash": prev, "seal": audit_log._seal(bytes.fromhex(key), "head", entries[-1]["seq"], prev)}))
    cases["re-sealed with the key"] = (resealed, "was rewritten")
    for case, (copy, says) in cases.items():
        assert mesh_in_process("audit", "verify", root=copy).returncode == 0, case  # the key holder's work passes alone
        out = mesh_in_process("audit", "verify", "--head", kept, root=copy)
        assert out.returncode == 1 and says in out.stderr, (case, out.stderr)
    assert mesh_in_process("audit", "verify", "--head", kept, root=root).returncode == 0


def test_governance_acts_are_in_the_audit_log(module_mesh):
    """Who issued and revoked which token, and who approved what, stand in the sealed log."""
    root = module_mesh
    made = mesh_in_process("token", "issue", "frank.finance", root=root, principal="platform.admin", check=True)
    token_id = made.stderr.split()[0]
    mesh_in_process("token", "revoke", token_id, root=root, principal="platform.admin", check=True)
    entries = [json.loads(line) for line in (root / "audit" / "access.jsonl").read_text().splitlines()]
    acts = [(e["event"], e["principal"], e.get("token")) for e in entries if e.get("event", "").startswith("token_")]
    assert ("token_issued", "platform.admin", token_id) in acts and ("token_revoked", "platform.admin", token_id) in acts
    assert made.stdout.strip() not in json.dumps(entries)  # the secret itself never
    assert mesh_in_process("audit", "verify", root=root).returncode == 0


def test_a_profile_file_never_lands_in_a_file_someone_else_made(module_mesh, tmp_path):
    """A file (or a link) another account left where the profile goes is replaced, not
    written into: the token is readable by its owner only."""
    target = tmp_path / "frank.share"
    target.write_text("left here by someone else")
    target.chmod(0o666)
    if os.geteuid() == 0:
        os.chown(target, 65534, 65534)
    issue(module_mesh, "frank.finance", "--out", str(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.stat().st_uid == os.geteuid()
    assert json.loads(target.read_text())["bearerToken"].startswith("mesh_")


def test_a_platform_key_made_by_many_processes_at_once_is_one_whole_key(tmp_path):
    import subprocess
    import sys

    made = "from platform_lib.config import MeshPaths; from platform_lib.governance.secrets import key; " \
           f"print(key(MeshPaths(__import__('pathlib').Path({str(tmp_path)!r})), 'raced').hex())"
    runs = [subprocess.Popen([sys.executable, "-c", made], stdout=subprocess.PIPE, text=True) for _ in range(8)]
    keys = {run.communicate()[0].strip() for run in runs}
    assert len(keys) == 1 and len(keys.pop()) == 64
