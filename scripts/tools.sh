# Sourced by scripts/test and scripts/bench: installs the pinned Python tools of
# scripts/requirements.txt into .venv (again only when that file changes) and the arm64 target.
VENV=${VENV:-$PWD/.venv}
export SAM_CLI_TELEMETRY=0 PIP_DISABLE_PIP_VERSION_CHECK=1

ensure_tools() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/pip" install --quiet -r scripts/requirements.txt
    echo "$want" >"$stamp"
  fi
  # The evidence package's VERIFY.md commands run in the tests: sha256sum, openssl and jq.
  if ! command -v jq >/dev/null; then
    { apt-get update -qq && apt-get install -y -qq jq >/dev/null; } || { echo "cannot install jq" >&2; return 1; }
  fi
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu || { echo "cannot install the aarch64 Rust target" >&2; return 1; }
  fi
}

# The three functions as Lambda runs them: arm64, release profile, into target/lambda/.
build_lambdas() {
  PATH="$VENV/bin:$PATH" cargo lambda build --release --arm64 --locked -p get-sign -p preview-sign -p submit-sign
}

# A free TCP port on the loopback interface.
free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 15 s for something to listen on loopback port $1.
wait_for_port() {
  for _ in $(seq 1 150); do
    if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}
