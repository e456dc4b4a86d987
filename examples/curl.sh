#!/usr/bin/env bash
# Every REST route and a few RPCs, with curl, as the README shows them. CI
# runs this against a live server (test/examples.test.ts), and the test checks
# that each curl line of the README's "Raw HTTP" block is in this file, so
# the README cannot rot. Run it yourself with:
#
#   ATTESTO_URL=http://127.0.0.1:8080 ATTESTO_API_KEY=atk_… bash examples/curl.sh
#
# Each example is `want <status>; curl …`: the line after `want` is what the
# README shows. Needs curl and jq.
set -euo pipefail
: "${ATTESTO_URL:?set ATTESTO_URL}" "${ATTESTO_API_KEY:?set ATTESTO_API_KEY to a tenant API key}"

WANT=200
want() { WANT=$1; }
# curl, checked: the status must be the one wanted; the body is kept in $BODY.
curl() {
  local out status
  out=$(mktemp)
  status=$(command curl -sS -o "$out" -w '%{http_code}' "${@/#-s/-sS}")
  # Tiles are binary: their NUL bytes are dropped here (bash would warn on
  # each); only JSON bodies are read back through $BODY.
  BODY=$(tr -d '\000' <"$out")
  rm -f "$out"
  if [ "$status" != "$WANT" ]; then
    printf 'FAILED: HTTP %s, expected %s: curl %s\n%s\n' "$status" "$WANT" "$*" "$BODY" >&2
    exit 1
  fi
  local arg url=""
  for arg in "$@"; do [ -z "$url" ] && [ "${arg#"$ATTESTO_URL"}" != "$arg" ] && url=${arg#"$ATTESTO_URL"}; done
  printf 'ok %s %s\n' "$status" "$url"
}
json() { jq -er "$1" <<<"$BODY"; }

# --- RPCs (Connect protocol: POST JSON to /<package>.<Service>/<Method>) -----
want 200; curl -s -X POST "$ATTESTO_URL/attesto.v1.TenantService/GetCurrentTenant" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{}'
TENANT=$(json .tenant.id)
want 200; curl -s -X POST "$ATTESTO_URL/attesto.v1.ProofstreamService/CreateStream" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"name":"orders"}'
STREAM=$(json .stream.id)
VERIFIER_KEY=$(json .stream.verifierKey)
want 200; curl -s -X POST "$ATTESTO_URL/attesto.v1.ProofstreamService/AppendEvent" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"streamId":"'"$STREAM"'","sourceRef":"order-1","eventType":"order.paid","occurredAt":"2026-01-01T12:00:00Z","payload":{"order":"order-1","amount":100}}'
want 200; curl -s -X POST "$ATTESTO_URL/attesto.v1.ProofstreamService/CreateCheckpoint" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"streamId":"'"$STREAM"'"}'
want 200; curl -s -X POST "$ATTESTO_URL/attesto.v1.ProofstreamService/GetInclusionProof" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"streamId":"'"$STREAM"'","seqNo":"1"}'

# --- Proofstream read path (C2SP formats) -------------------------------------
want 200; curl -s "$ATTESTO_URL/proofstreams/$STREAM/checkpoint" -H "Authorization: Bearer $ATTESTO_API_KEY"
want 200; curl -s "$ATTESTO_URL/proofstreams/$STREAM/proof/1" -H "Authorization: Bearer $ATTESTO_API_KEY"
want 200; curl -s "$ATTESTO_URL/proofstreams/$STREAM/tile/0/000.p/1" -H "Authorization: Bearer $ATTESTO_API_KEY"

# --- Webhook subscriptions, deliveries, test events ---------------------------
want 201; curl -s -X POST "$ATTESTO_URL/v1/webhooks" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"name":"ops","url":"https://93.184.215.14/hooks/attesto","eventTypes":["proofstream.checkpointed"]}'
SUB=$(json .id)
want 200; curl -s "$ATTESTO_URL/v1/webhooks?page_size=10" -H "Authorization: Bearer $ATTESTO_API_KEY"
want 200; curl -s "$ATTESTO_URL/v1/webhooks/$SUB" -H "Authorization: Bearer $ATTESTO_API_KEY"
want 200; curl -s -X PATCH "$ATTESTO_URL/v1/webhooks/$SUB" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"description":"on-call channel"}'
want 201; curl -s -X POST "$ATTESTO_URL/v1/webhooks/$SUB/test" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"eventType":"proofstream.checkpointed"}'
DLV=$(json .id)
want 200; curl -s "$ATTESTO_URL/v1/webhooks/$SUB/deliveries?status=pending" -H "Authorization: Bearer $ATTESTO_API_KEY"
want 200; curl -s "$ATTESTO_URL/v1/webhooks/$SUB/deliveries/$DLV" -H "Authorization: Bearer $ATTESTO_API_KEY"
# Redelivery attempts an ended delivery again now (202); one still pending is refused (412).
want 412; curl -s -X POST "$ATTESTO_URL/v1/webhooks/$SUB/deliveries/$DLV/redeliver" -H "Authorization: Bearer $ATTESTO_API_KEY"
want 200; curl -s -X POST "$ATTESTO_URL/v1/webhooks/$SUB/rotate-secret" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"overlapSeconds":3600}'
want 200; curl -s "$ATTESTO_URL/v1/webhooks?pageSize=10" -H "Authorization: Bearer $ATTESTO_API_KEY"
want 204; curl -s -X DELETE "$ATTESTO_URL/v1/webhooks/$SUB" -H "Authorization: Bearer $ATTESTO_API_KEY"

# --- Store verification and store notifications --------------------------------
# Without the tenant's store credentials or a real signed payload these answer
# the documented errors (a tenant with no App Store or Google Play setup has no
# notification endpoint: 404); with them, the verified transaction or purchase.
want 400; curl -s -X POST "$ATTESTO_URL/v1/apple/verify" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{}'
want 400; curl -s -X POST "$ATTESTO_URL/v1/apple/verify-signed" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{}'
want 400; curl -s -X POST "$ATTESTO_URL/v1/google/verify" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{}'
want 412; curl -s -X POST "$ATTESTO_URL/v1/google/voided-purchases" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{}'
want 412; curl -s -X POST "$ATTESTO_URL/v1/google/acknowledge-product" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"productId":"coins_100","purchaseToken":"token-from-the-app"}'
want 404; curl -s -X POST "$ATTESTO_URL/v1/store-notifications/apple/$TENANT" -H "Content-Type: application/json" -d '{"signedPayload":"not-a-jws"}'
want 404; curl -s -X POST "$ATTESTO_URL/v1/store-notifications/google/$TENANT" -H "Content-Type: application/json" -d '{}'

# --- Connectors (ingress is verified by the connector's own signature) ---------
want 404; curl -s -X POST "$ATTESTO_URL/v2/connectors/signed-webhooks/con_01ARZ3NDEKTSV4RRFFQ69G5FAV/events" -H "Content-Type: application/json" -d '{}'
want 404; curl -s -X POST "$ATTESTO_URL/v2/connectors/github/con_01ARZ3NDEKTSV4RRFFQ69G5FAV/events" -H "Content-Type: application/json" -d '{}'
want 404; curl -s -X POST "$ATTESTO_URL/v2/connectors/gitlab/con_01ARZ3NDEKTSV4RRFFQ69G5FAV/events" -H "Content-Type: application/json" -d '{}'
want 404; curl -s -X POST "$ATTESTO_URL/v2/tenant/connectors/s3-objects/con_01ARZ3NDEKTSV4RRFFQ69G5FAV/commit" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"key":"invoices/2026-01.pdf"}'

# --- Verification (public) ----------------------------------------------------
want 200; curl -s -X POST "$ATTESTO_URL/v2/verify" -H "X-Attesto-Verifier-Key: $VERIFIER_KEY" -H "Content-Type: text/plain" --data-binary @<(command curl -s "$ATTESTO_URL/proofstreams/$STREAM/proof/1" -H "Authorization: Bearer $ATTESTO_API_KEY")
[ "$(json .valid)" = "true" ] || { echo "FAILED: the tlog-proof did not verify" >&2; exit 1; }
want 404; curl -s "$ATTESTO_URL/bundles/bundle_01ARZ3NDEKTSV4RRFFQ69G5FAV/download" -H "Authorization: Bearer $ATTESTO_API_KEY"
# A bundle with a share link: anyone with the token (the part after #share= of the link) fetches it without a key.
want 200; curl -s -X POST "$ATTESTO_URL/attesto.v1.ProofstreamService/CreateBundle" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"streamId":"'"$STREAM"'","fromSeqNo":"1","toSeqNo":"1","share":true}'
BUNDLE=$(json .bundle.id)
SHARE_TOKEN=$(json .shareLink.token)
want 201; curl -s -X POST "$ATTESTO_URL/v1/bundles/$BUNDLE/share-links" -H "Authorization: Bearer $ATTESTO_API_KEY" -H "Content-Type: application/json" -d '{"ttlSeconds":86400}'
SHARE_LINK=$(json .id)
# The bundle builds in the background: its shared fetch answers 412 until it is ready.
for _ in $(seq 100); do [ "$(command curl -s -o /dev/null -w '%{http_code}' "$ATTESTO_URL/v1/shared-bundle" -H "X-Attesto-Share-Token: $SHARE_TOKEN")" = 200 ] && break; sleep 0.2; done
want 200; curl -s "$ATTESTO_URL/v1/shared-bundle" -H "X-Attesto-Share-Token: $SHARE_TOKEN"
want 200; curl -s -X DELETE "$ATTESTO_URL/v1/bundles/$BUNDLE/share-links/$SHARE_LINK" -H "Authorization: Bearer $ATTESTO_API_KEY"

# --- Operational ----------------------------------------------------------------
want 200; curl -s "$ATTESTO_URL/"
want 200; curl -s "$ATTESTO_URL/healthz"
want 200; curl -s "$ATTESTO_URL/readyz"
want 200; curl -s "$ATTESTO_URL/openapi.json"
want 200; curl -s "$ATTESTO_URL/docs"
want 200; curl -s "$ATTESTO_URL/docs/api"
want 200; curl -s "$ATTESTO_URL/metrics"

echo "all curl examples passed"
