# The shell tests' bounded waits, scaled by TFUSE_TEST_TIMEOUT_SCALE (a factor, default 1; `make
# test-under-load` sets 3) so that a loaded machine stretches them instead of failing them.
# Sourced by tests/lib/node-harness.sh and the other test scripts; defines no traps.
#   scaled SECONDS          -> SECONDS times the factor, rounded up (for `timeout`, curl -m ...)
#   wait_until SECONDS CMD  -> runs CMD every 50 ms until it succeeds (0) or SECONDS (scaled)
#                              have passed (1); a wait that is bounded but never tight
#   $T30, $T60              -> 30 and 60 scaled: the usual limits of one program's run
TFUSE_TEST_TIMEOUT_SCALE=${TFUSE_TEST_TIMEOUT_SCALE:-1}
if ! [[ $TFUSE_TEST_TIMEOUT_SCALE =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
   awk -v s="$TFUSE_TEST_TIMEOUT_SCALE" 'BEGIN { exit !(s <= 0) }'; then
    echo "TFUSE_TEST_TIMEOUT_SCALE=$TFUSE_TEST_TIMEOUT_SCALE: expected a factor above 0" >&2
    exit 2
fi
export TFUSE_TEST_TIMEOUT_SCALE

scaled() {
    awk -v t="$1" -v s="$TFUSE_TEST_TIMEOUT_SCALE" \
        'BEGIN { v = t * s; r = int(v); if (r < v) r++; print r }'
}

wait_until() {
    local end
    end=$(($(date +%s%N) + $(scaled "$1") * 1000000000))
    shift
    until "$@"; do
        [ "$(date +%s%N)" -lt "$end" ] || return 1
        sleep 0.05
    done
}

T30=$(scaled 30)
T60=$(scaled 60)
