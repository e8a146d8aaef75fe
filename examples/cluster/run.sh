#!/usr/bin/env bash
# A botline cluster on this machine (docs/SCALING.md), started by `make cluster`:
#
#   Kamailio (dispatcher)  udp 127.0.0.1:5060   spreads calls over the two nodes
#   botline node-a         sip 127.0.0.1:5080   http 127.0.0.1:8081
#   botline node-b         sip 127.0.0.1:5090   http 127.0.0.1:8082
#   MinIO                  http 127.0.0.1:9000  bucket "recordings", every node's recordings
#
# The nodes know each other (--peer), so recording control for a call on one
# reaches it through the other. Data and logs go to ./cluster-data (git-ignored).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${MINIO:?set MINIO to the MinIO server binary (make cluster does)}"
: "${KAMAILIO:=$(command -v kamailio || echo /usr/sbin/kamailio)}"
BOTLINE=${BOTLINE:-bin/botline}
DATA=${CLUSTER_DATA:-cluster-data}
TOKEN=${API_TOKEN:-cluster-token}
export AWS_ACCESS_KEY_ID=botline AWS_SECRET_ACCESS_KEY=botline-cluster-secret
mkdir -p "$DATA/minio" "$DATA/node-a" "$DATA/node-b" "$DATA/kamailio"
DATA=$(realpath "$DATA") # Kamailio changes its working directory

pids=()
stop() { trap - EXIT INT TERM; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off MINIO_UPDATE=off \
	"$MINIO" server "$DATA/minio" --address 127.0.0.1:9000 --quiet >"$DATA/minio.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf http://127.0.0.1:9000/minio/health/ready >/dev/null && break; sleep 0.2; done
curl -sf http://127.0.0.1:9000/minio/health/ready >/dev/null || { echo "MinIO did not start; see $DATA/minio.log"; exit 1; }

node() { # name sip-port http-port rtp-ports peer-name peer-http-port
	"$BOTLINE" --node-id "$1" --sip-listen "127.0.0.1:$2" --http-listen "127.0.0.1:$3" --public-url "http://127.0.0.1:$3" \
		--rtp-ports "$4" --recordings-dir "$DATA/$1" --api-token "$TOKEN" \
		--store s3://recordings/cluster --store-endpoint http://127.0.0.1:9000 \
		--peer "$5=http://127.0.0.1:$6" >"$DATA/$1.log" 2>&1 &
	pids+=($!)
}
node node-a 5080 8081 20000-20999 node-b 8082
node node-b 5090 8082 21000-21999 node-a 8081
for port in 8081 8082; do
	for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "botline on :$port did not start; see $DATA/node-*.log"; exit 1; }
done

printf '1 sip:127.0.0.1:5080\n1 sip:127.0.0.1:5090\n' >"$DATA/kamailio/dispatcher.list"
"$KAMAILIO" -f examples/kamailio/kamailio.cfg -DD -E -n 1 -A "DSLIST=\"$DATA/kamailio/dispatcher.list\"" \
	-l udp:127.0.0.1:5060 -w "$DATA/kamailio" -Y "$DATA/kamailio" >"$DATA/kamailio.log" 2>&1 &
pids+=($!)
sleep 1
kill -0 "${pids[-1]}" 2>/dev/null || { echo "Kamailio did not start; see $DATA/kamailio.log"; exit 1; }

cat <<INFO
cluster up: Kamailio on 127.0.0.1:5060 -> node-a (:8081), node-b (:8082); recordings in MinIO 127.0.0.1:9000
  place a call:       make cluster-call              (SIPp through Kamailio; repeat it: calls alternate)
  list recordings:    curl -H 'Authorization: Bearer $TOKEN' 'http://127.0.0.1:8081/recordings'
  from either node:   curl -H 'Authorization: Bearer $TOKEN' -o r.wav http://127.0.0.1:8082/recording/download/<documentId>
  drain node-a:       curl -X POST -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:8081/admin/drain
  logs:               $DATA/*.log
Ctrl-C stops the cluster.
INFO
wait -n || true
echo "a process of the cluster stopped; see $DATA/*.log"
