#!/usr/bin/env python3
"""Mints zentra tokens for the scale scenario (bench/run.sh, measure_scale)
with the bench's fixed signing keys, one per line of stdin, one per line
of stdout:

    mint_tokens.py access  < usernames                 # for GET /users/me
    mint_tokens.py refresh < 'username<TAB>family<TAB>token id' lines

The tokens are what zentra itself issues (adapters-crypto's jwt.rs): HS256,
header {"typ":"JWT","alg":"HS256"}, claims sub, exp, iat, jti, type, iss
and, for refresh tokens, fam. A refresh token names an existing session:
its family and its current token id, so the first rotation of each
succeeds as a client's would. Minting them costs no login (one bcrypt hash
each): the loaded users and sessions get tokens without the service.

Environment: BENCH_ACCESS_KEY, BENCH_REFRESH_KEY (the keys zentra runs
with), BENCH_ISSUER (zentra's AUTH__ISSUER, default "zentra").
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import uuid

ACCESS_LIFETIME = 15 * 60
REFRESH_LIFETIME = 7 * 86400
HEADER = b'{"typ":"JWT","alg":"HS256"}'


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign(key, claims):
    body = json.dumps(claims, separators=(",", ":")).encode()
    signing_input = b64(HEADER) + b"." + b64(body)
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def main():
    kind = sys.argv[1]
    if kind not in ("access", "refresh"):
        sys.exit("usage: mint_tokens.py access|refresh < lines")
    key = os.environ["BENCH_ACCESS_KEY" if kind == "access" else "BENCH_REFRESH_KEY"].encode()
    issuer = os.environ.get("BENCH_ISSUER", "zentra")
    now = int(time.time())
    lifetime = ACCESS_LIFETIME if kind == "access" else REFRESH_LIFETIME
    out = sys.stdout
    for line in sys.stdin:
        fields = line.rstrip("\n").split("\t")
        if not fields[0]:
            continue
        claims = {"sub": fields[0], "exp": now + lifetime, "iat": now}
        if kind == "access":
            claims.update(jti=uuid.uuid4().hex, type="access", iss=issuer)
        else:
            _, family, token_id = fields
            claims.update(jti=token_id, type="refresh", iss=issuer, fam=family)
        out.write(sign(key, claims) + "\n")


if __name__ == "__main__":
    main()
