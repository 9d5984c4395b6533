#!/bin/sh
# Every cu* symbol libtfuse-softgpu.so exports must be in entrypoints.def (so cuGetProcAddress
# answers it), and every symbol listed there must be exported: the list and the library agree.
# usage: check_exports.sh <libtfuse-softgpu.so> <entrypoints.def>
lib=$1
def=$2
exported=$(nm -D --defined-only "$lib" | awk '$3 ~ /^cu/ {print $3}' | sort -u)
listed=$(sed -n 's/^SG_ENTRY(\([^,]*\), *[0-9]*, *\([A-Za-z0-9_]*\)).*/\2/p; s/^SG_ENTRY_PT(\([^,]*\), *[0-9]*, *\([A-Za-z0-9_]*\), *[0-9]*, *\([A-Za-z0-9_]*\),.*/\2\n\3/p' "$def" | sort -u)
tmp=$(mktemp -d)
printf '%s\n' "$listed" > "$tmp/listed"
printf '%s\n' "$exported" > "$tmp/exported"
missing=$(comm -23 "$tmp/exported" "$tmp/listed")
absent=$(comm -13 "$tmp/exported" "$tmp/listed")
rm -rf "$tmp"
n=$(printf '%s\n' "$exported" | wc -l)
if [ -n "$missing" ]; then echo "exported but not in entrypoints.def:"; echo "$missing"; exit 1; fi
if [ -n "$absent" ]; then echo "in entrypoints.def but not exported:"; echo "$absent"; exit 1; fi
echo "exports ok: $n symbols, all in entrypoints.def"
