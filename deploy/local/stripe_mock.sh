#!/usr/bin/env bash
# stripe-mock (Stripe's own OpenAPI-driven mock of its API) for the payment adapter's conformance
# test (tests/e2e/test_payment_conformance.py): built from the Go module proxy into the shared
# cache. It refuses requests the real API would refuse (unknown parameters, wrong types or paths);
# its answers are fixtures, not behaviour (the behaviour is deploy/local/payment_sim.py's).
# Usage: stripe_mock.sh install | path
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=stripe-mock
HL_STRIPE_MOCK_VERSION=${HL_STRIPE_MOCK_VERSION:-v0.203.0}
BIN_DIR=$HL_CACHE_DIR/stripe-mock/$HL_STRIPE_MOCK_VERSION
case "${1:-}" in
  install)
    if [[ ! -x $BIN_DIR/stripe-mock ]]; then
      command -v go >/dev/null || hl_die "go is needed to build stripe-mock (deploy/local/deps.sh)"
      mkdir -p "$BIN_DIR"
      hl_say "go install github.com/stripe/stripe-mock@$HL_STRIPE_MOCK_VERSION"
      (cd "$BIN_DIR" && GOBIN=$BIN_DIR go install "github.com/stripe/stripe-mock@$HL_STRIPE_MOCK_VERSION")
    fi
    echo "$BIN_DIR/stripe-mock" ;;
  path) echo "$BIN_DIR/stripe-mock" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
