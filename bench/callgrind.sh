#!/usr/bin/env bash
# Counts the connector's instructions per event with valgrind's callgrind, through `bench
# process --connector-binary`. Wall-clock figures on a shared 2-core guest move by 10 - 30 %
# from run to run; instruction counts per event repeat to within about 1 %, so a change of a
# few per cent shows. They count user-space instructions only: not the kernel's work, cache
# misses or waits, so they say what a change removes, not what it buys in events per second.
#
# usage: bench/callgrind.sh CONNECTOR_BINARY [EVENTS [BENCH_FLAGS...]]
#   e.g. bench/callgrind.sh target/release/byoc-connector 20000 --delivery webhook --batch 100
#
# It runs the bench twice, with EVENTS and with twice as many, and reports the difference per
# event, so start-up and shutdown cancel out. The bench itself is target/release/byoc-connector
# (BENCH_BINARY overrides it). Needs valgrind (Debian: apt-get install valgrind). Under
# callgrind the connector runs ~50 times slower, so batches fill more than at full speed:
# compare builds with each other, not with the bench's own figures.
# CALLGRIND_KEEP=DIR keeps the two counts files there (counts.single, counts.double) for
# callgrind_annotate.
set -euo pipefail

connector=${1:?usage: bench/callgrind.sh CONNECTOR_BINARY [EVENTS [BENCH_FLAGS...]]}
events=${2:-20000}
shift $(( $# >= 2 ? 2 : 1 ))
bench_flags=("$@")
[ ${#bench_flags[@]} -gt 0 ] || bench_flags=(--delivery webhook --batch 100)
bench=${BENCH_BINARY:-target/release/byoc-connector}

command -v valgrind > /dev/null || { echo "bench/callgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
[[ $events =~ ^[1-9][0-9]*$ ]] || { echo "bench/callgrind.sh: EVENTS must be a positive whole number, not '$events'" >&2; exit 2; }
[ -x "$connector" ] || { echo "bench/callgrind.sh: $connector: not an executable file" >&2; exit 2; }
[ -x "$bench" ] || { echo "bench/callgrind.sh: $bench: not built (cargo build --release)" >&2; exit 2; }
connector=$(realpath "$connector")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The bench stops its connector with SIGKILL, which leaves callgrind no chance to write its
# counts. The wrapper runs valgrind as a child instead of exec'ing it, so the kill takes the
# wrapper and valgrind lives on until it is sent SIGTERM below, shuts down and writes them.
cat > "$work/wrapper" <<EOF
#!/usr/bin/env bash
valgrind --tool=callgrind --callgrind-out-file="$work/counts.\$CALLGRIND_TAG" "$connector" "\$@"
EOF
chmod +x "$work/wrapper"

instructions() {
    local tag=$1 count=$2
    CALLGRIND_TAG=$tag "$bench" bench process --events "$count" "${bench_flags[@]}" \
        --connector-binary "$work/wrapper" | grep -E "events in|requests:" >&2
    pkill -TERM -f "callgrind-out-file=$work/counts.$tag" || true
    while pgrep -f "callgrind-out-file=$work/counts.$tag" > /dev/null; do sleep 0.5; done
    local total
    total=$(sed -n 's/^summary: //p' "$work/counts.$tag")
    [ -n "$total" ] || { echo "bench/callgrind.sh: callgrind wrote no counts for $count events" >&2; exit 1; }
    echo "$total"
}

single=$(instructions single "$events")
double=$(instructions double $(( events * 2 )))
echo "connector $connector, bench process ${bench_flags[*]}"
echo "instructions: $single for $events events, $double for $(( events * 2 ))"
echo "per event: $(( (double - single) / events ))"
if [ -n "${CALLGRIND_KEEP:-}" ]; then
    mkdir -p "$CALLGRIND_KEEP"
    cp "$work/counts.single" "$work/counts.double" "$CALLGRIND_KEEP/"
    echo "counts kept in $CALLGRIND_KEEP"
fi
