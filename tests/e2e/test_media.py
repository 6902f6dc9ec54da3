"""Profile images (issue 18) against the real stack: libvips in the command server, the
S3-compatible object store (versitygw, deploy/local/objectstore.sh), nginx serving /media/.

Uploads of JPEG, PNG and WebP give two square WebP renditions without metadata (decoded here with
Pillow), visible in the profile through the query API with the consistency token; refused uploads
write nothing to the store or PostgreSQL; kill -9 between the store write and the commit leaves no
profile pointing at a missing object, and the sweep deletes the orphan.
"""
import io
import os
import re
import struct
import subprocess
import uuid
import zlib

import pytest
from PIL import Image

from conftest import (COMMAND, COMMAND_DIRECT, QUERY, eventually, healthy, http, login,
                      new_user, psql)
from counselling_helpers import command_pid, restart_command_server, wait_dead

S3 = f"http://127.0.0.1:{os.environ['HL_S3_PORT']}"
BUCKET = os.environ["HL_S3_BUCKET"]
WAIT = {"X-Consistency-Wait-Ms": "10000"}
GPS_TAG = 0x8825


def s3(method, path, *args):
    """A SigV4-signed request to the object store with the root keys; returns (status, body)."""
    verb = ["-I"] if method == "HEAD" else ["-X", method]  # -X HEAD would wait for a body
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/stdout", *verb, "-w", "\n%{http_code}", "--aws-sigv4",
         f"aws:amz:{os.environ['HL_S3_REGION']}:s3", "--user",
         f"{os.environ['HL_S3_ACCESS_KEY']}:{os.environ['HL_S3_SECRET_KEY']}",
         "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", f"{S3}{path}", *args], check=True, capture_output=True, text=True)
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


def store_keys():
    """Every key of the media bucket (ListObjectsV2, up to 1000: tests keep the bucket small)."""
    status, body = s3("GET", f"/{BUCKET}?list-type=2&max-keys=1000")
    assert status == 200, body
    return set(re.findall(r"<Key>([^<]+)</Key>", body))


def object_exists(key):
    return s3("HEAD", f"/{BUCKET}/{key}")[0] == 200


def picture(fmt, size=(800, 600), exif=True):
    """A photo-like test image in fmt (JPEG, PNG, WEBP) carrying EXIF with a GPS block."""
    img = Image.new("RGB", size)
    px = img.load()
    for x in range(0, size[0], 4):
        for y in range(0, size[1], 4):
            px[x, y] = ((x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256)
    out = io.BytesIO()
    kw = {}
    if exif:
        e = Image.Exif()
        e[0x010F] = "HearlersCam"  # Make
        e[GPS_TAG] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
        kw["exif"] = e.tobytes()
    img.save(out, fmt, **kw)
    data = out.getvalue()
    if exif:
        assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_TAG), "test image lacks GPS"
    return data


def put_avatar(headers, data, content_type, base=COMMAND, extra=None):
    return http("PUT", f"{base}/v1/users/me/avatar", raw=data,
                headers={**headers, "Content-Type": content_type, **(extra or {})}, timeout=60)


def profile(uid, token):
    r = http("GET", f"{QUERY}/v1/users/{uid}", headers={**WAIT, "X-Consistency-Token": token})
    assert r.status == 200, r.body
    return r.json()


def counts(uid):
    return (psql(f"SELECT version, avatar_512, avatar_128 FROM users WHERE user_id = '{uid}'"),
            psql("SELECT count(*) FROM events")[0], psql("SELECT count(*) FROM media_pending")[0],
            store_keys())


def check_rendition(url, size):
    r = http("GET", f"{COMMAND}{url}")
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "image/webp"
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    img = Image.open(io.BytesIO(r.body))
    img.load()
    assert img.format == "WEBP" and img.size == (size, size)
    # No metadata block survived: no EXIF (GPS included), XMP or ICC profile.
    assert not img.getexif() and "exif" not in img.info and "xmp" not in img.info
    assert "icc_profile" not in img.info
    assert b"EXIF" not in r.body[:64] and b"Exif" not in r.body and b"XMP " not in r.body
    again = http("GET", f"{COMMAND}{url}")
    assert again.status == 200 and again.body == r.body
    assert again.headers["X-Cache-Status"] == "HIT"  # served by the gateway's cache


@pytest.mark.parametrize("fmt,mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                      ("WEBP", "image/webp")])
def test_upload_gives_two_stripped_webp_renditions(fmt, mime):
    uid, h, _, _ = new_user("Pic")
    r = put_avatar(h, picture(fmt), mime)
    assert r.status == 200, r.body
    body = r.json()
    av = body["avatar"]
    assert body["version"] == 2 and av["version"] == 2 and r.headers["ETag"] == '"2"'
    for key in ("url_512", "url_128"):
        assert re.fullmatch(r"/media/avatars/[0-9a-f]{64}\.webp", av[key]), av
    assert object_exists(av["url_512"][len("/media/"):])
    check_rendition(av["url_512"], 512)
    check_rendition(av["url_128"], 128)
    p = profile(uid, r.headers["X-Consistency-Token"])
    assert p["avatar"] == av and p["version"] == 2 and p["avatar_url"] == ""
    assert psql(f"SELECT event_type, aggregate_version FROM events WHERE aggregate_id = '{uid}'"
                " ORDER BY aggregate_version") == ["UserRegistered|1", "UserAvatarChanged|2"]
    assert psql("SELECT count(*) FROM media_pending WHERE object_key IN "
                f"('{av['url_512'][7:]}', '{av['url_128'][7:]}')") == ["0"]


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xffffffff)


def bomb_png(w=60000, h=60000):
    """A PNG whose header says w x h (3.6 gigapixels) with a little zlib of zeros behind it."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 << 20), 9)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def truncated_png():
    """A real PNG cut inside its IDAT (no IEND)."""
    data = picture("PNG", exif=False)
    at = data.index(b"IDAT")
    return data[:at + (len(data) - at) // 2]


def gif():
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(out, "GIF")
    return out.getvalue()


SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
       b'<script>alert(1)</script><rect width="64" height="64"/></svg>')
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.mark.parametrize("case,data,mime,status,reason", [
    ("svg", SVG, "image/svg+xml", 415, "unsupported-media-type"),
    ("svg-as-png", SVG, "image/png", 415, "unsupported-image-type"),
    ("gif", None, "image/gif", 415, "unsupported-media-type"),
    ("gif-as-png", None, "image/png", 415, "unsupported-image-type"),
    ("html-named-png", HTML, "image/png", 415, "unsupported-image-type"),
    ("truncated-idat", None, "image/png", 422, "invalid-image"),
    ("bomb-60000x60000", None, "image/png", 422, "image-too-large"),
    ("6-mib", None, "image/jpeg", 413, "body-too-large"),
    ("wrong-content-type", None, "application/json", 415, "unsupported-media-type"),
    ("png-declared-jpeg", None, "image/jpeg", 415, "unsupported-media-type"),
    ("stale-if-match", None, "image/png", 412, "version-mismatch"),
])
def test_refused_uploads_write_nothing(case, data, mime, status, reason):
    uid, h, _, _ = new_user("Refused")
    extra = {}
    if case.startswith("gif"):
        data = gif()
    elif case == "truncated-idat":
        data = truncated_png()
    elif case.startswith("bomb"):
        data = bomb_png()
    elif case == "6-mib":
        data = picture("JPEG") + os.urandom(6 * 1024 * 1024)
    elif data is None:
        data = picture("PNG")
    if case == "stale-if-match":
        assert http("PATCH", f"{COMMAND}/v1/users/me", {"bio": "v2"}, h).status == 200
        extra = {"If-Match": '"1"'}
    before = counts(uid)
    r = put_avatar(h, data, mime, extra=extra)
    assert r.status == status, (case, r.status, r.body)
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["type"] == f"urn:hearlers:problem:{reason}", r.body
    assert counts(uid) == before, case


def plain(fmt, size, color=(30, 120, 200)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


# Degenerate images (issue 18 review): each decodes on an image-worker thread (8 MiB stack)
# instead of a civetweb worker, whose stack libvips overflowed under ASan on a 1x1 PNG. Every one
# gets a clear answer; the ones that decode give two square renditions (libvips upsizes and crops
# a strip around its centre).
DEGENERATE = [
    ("1x1-png", lambda: plain("PNG", (1, 1)), "image/png", 200, None),
    ("1x1-jpeg", lambda: plain("JPEG", (1, 1)), "image/jpeg", 200, None),
    ("1x1-webp", lambda: plain("WEBP", (1, 1)), "image/webp", 200, None),
    ("1x4000-png", lambda: plain("PNG", (1, 4000)), "image/png", 200, None),
    ("4000x1-png", lambda: plain("PNG", (4000, 1)), "image/png", 200, None),
    ("1x3000-jpeg", lambda: plain("JPEG", (1, 3000)), "image/jpeg", 200, None),
    ("16383x1-webp", lambda: plain("WEBP", (16383, 1)), "image/webp", 200, None),
    ("0-byte", lambda: b"", "image/png", 415, "unsupported-image-type"),
]


@pytest.mark.parametrize("case,make,mime,status,reason", DEGENERATE, ids=[d[0] for d in DEGENERATE])
def test_degenerate_images_answer_clearly(case, make, mime, status, reason):
    uid, h, _, _ = new_user("Tiny")
    pid = command_pid()
    before = counts(uid)
    r = put_avatar(h, make(), mime)
    assert r.status == status, (case, r.status, r.body[:300])
    if status == 200:
        av = r.json()["avatar"]
        check_rendition(av["url_512"], 512)
        check_rendition(av["url_128"], 128)
    else:
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert r.json()["type"] == f"urn:hearlers:problem:{reason}", r.body
        assert counts(uid) == before, case
    # The server is alive, the same process, and still takes a normal upload.
    assert command_pid() == pid and os.path.exists(f"/proc/{pid}")
    assert healthy(COMMAND_DIRECT)
    ok = put_avatar(h, picture("JPEG", size=(64, 48)), "image/jpeg")
    assert ok.status == 200, ok.body


def test_idempotency_key_covers_the_image():
    """Same Idempotency-Key, same bytes: the first answer replayed, nothing decoded, stored or
    emitted again. Same key, another image: 422 idempotency-key-reused, nothing changes."""
    uid, h, _, _ = new_user("Idem")
    key = {"Idempotency-Key": f"avatar-{uuid.uuid4()}"}
    first_image, other_image = picture("PNG", size=(200, 160)), picture("PNG", size=(210, 160))
    first = put_avatar(h, first_image, "image/png", extra={**key, "If-Match": '"1"'})
    assert first.status == 200, first.body
    assert "Idempotent-Replayed" not in first.headers
    after_first = counts(uid)
    again = put_avatar(h, first_image, "image/png", extra={**key, "If-Match": '"1"'})
    assert again.status == 200, again.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again.headers["ETag"] == first.headers["ETag"]
    assert counts(uid) == after_first  # no event, no version, no pending row, no new object
    other = put_avatar(h, other_image, "image/png", extra=key)
    assert other.status == 422, other.body
    assert other.json()["type"] == "urn:hearlers:problem:idempotency-key-reused", other.body
    assert counts(uid) == after_first
    # the other image under a fresh key is a new upload
    fresh = put_avatar(h, other_image, "image/png", extra={"Idempotency-Key": str(uuid.uuid4())})
    assert fresh.status == 200 and fresh.json()["version"] == 3, fresh.body
    assert fresh.json()["avatar"] != first.json()["avatar"]


def test_dead_session_is_401_before_the_body_is_looked_at():
    """A revoked session (or none) gets 401 whatever the body: a wrong Content-Type, bytes that
    are no image, a real image. For a live session the same bodies get 415 or 200."""
    uid, h, email, password = new_user("Revoked")
    s = login(email, password)
    assert s.status == 201, s.body
    dead = {"Authorization": f"Bearer {s.json()['token']}"}
    assert http("DELETE", f"{COMMAND}/v1/sessions/current", None, dead).status == 204
    bodies = [("application/json", b'{"not": "an image"}', 415),
              ("image/png", HTML, 415),
              ("image/png", picture("PNG", size=(64, 64)), 200)]
    before = counts(uid)
    for ctype, data, live in bodies:
        for who, hdrs, reason in (("revoked", dead, "revoked-token"), ("none", {}, "missing-token")):
            r = put_avatar(hdrs, data, ctype)
            assert r.status == 401, (who, ctype, r.status, r.body[:200])
            assert r.json()["type"] == f"urn:hearlers:problem:{reason}", (who, ctype, r.body)
        assert counts(uid) == before, ctype  # nothing decoded into the store or PostgreSQL
    for ctype, data, live in bodies:
        assert put_avatar(h, data, ctype).status == live, ctype


def test_delete_and_external_avatar_url_coexist():
    uid, h, _, _ = new_user("Del")
    r = put_avatar(h, picture("PNG", size=(300, 900)), "image/png")
    assert r.status == 200, r.body
    old = r.json()["avatar"]
    p = http("PATCH", f"{COMMAND}/v1/users/me", {"avatar_url": "https://cdn.example/a.png"}, h)
    assert p.status == 200 and p.json()["version"] == 3
    got = profile(uid, p.headers["X-Consistency-Token"])
    assert got["avatar_url"] == "https://cdn.example/a.png" and got["avatar"] == old
    d = http("DELETE", f"{COMMAND}/v1/users/me/avatar", headers={**h, "If-Match": '"3"'})
    assert d.status == 204, d.body
    assert d.headers["ETag"] == '"4"'
    got = profile(uid, d.headers["X-Consistency-Token"])
    assert got["avatar"] is None and got["avatar_url"] == "https://cdn.example/a.png"
    # The keys it let go of wait for the sweep; deleting again changes nothing.
    keys = [old["url_512"][7:], old["url_128"][7:]]
    assert psql("SELECT count(*) FROM media_pending WHERE object_key IN "
                f"('{keys[0]}', '{keys[1]}')") == ["2"]
    again = http("DELETE", f"{COMMAND}/v1/users/me/avatar", headers=h)
    assert again.status == 204 and again.headers["ETag"] == '"4"'
    assert psql(f"SELECT event_type FROM events WHERE aggregate_id = '{uid}'"
                " ORDER BY aggregate_version")[-1] == "UserAvatarChanged"


def test_kill9_between_store_write_and_commit_then_sweep_removes_orphan():
    uid, h, _, _ = new_user("Crash")
    pending_before = set(psql("SELECT object_key FROM media_pending"))
    restart_command_server(HL_MEDIA_CRASH_AT="after-store")
    pid = command_pid()
    try:
        try:
            r = put_avatar(h, picture("JPEG", size=(640, 640)), "image/jpeg", base=COMMAND_DIRECT)
            status = r.status
        except OSError:
            status = None  # the connection died with the server: what kill -9 looks like
        assert status is None, "the command server answered instead of dying"
        wait_dead(pid)
        orphans = set(psql("SELECT object_key FROM media_pending")) - pending_before
        assert len(orphans) == 2, orphans
        assert all(object_exists(k) for k in orphans)  # written, never committed
        # No profile points at them (nor at any missing object).
        assert psql(f"SELECT avatar_512, avatar_128, version FROM users WHERE user_id = '{uid}'"
                    ) == ["||1"]
        for k in orphans:
            assert psql("SELECT count(*) FROM users WHERE avatar_512 = "
                        f"'{k}' OR avatar_128 = '{k}'") == ["0"]
        restart_command_server(HL_MEDIA_SWEEP_S=1, HL_MEDIA_ORPHAN_GRACE_S=1)
        eventually(lambda: not any(object_exists(k) for k in orphans), 60, "sweep of orphans")
        eventually(lambda: not (set(psql("SELECT object_key FROM media_pending")) & orphans), 30,
                   "media_pending rows of the orphans gone")
        # Every avatar a profile references still exists.
        for a512, a128 in (row.split("|") for row in psql(
                "SELECT avatar_512, avatar_128 FROM users WHERE avatar_512 <> ''")):
            assert object_exists(a512) and object_exists(a128)
    finally:
        restart_command_server()
