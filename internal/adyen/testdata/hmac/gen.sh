#!/bin/sh
# Computes the HMAC-SHA256 signature of every case in cases.tsv with OpenSSL, independently of the Go
# code under test, and writes them to signatures.tsv (name, base64 signature). Where Adyen published a
# signature for a case, the one OpenSSL computes must equal it. Run from this folder: sh gen.sh
set -eu
out=signatures.tsv
: > "$out.tmp"
tab=$(printf '\t')
grep -v '^#' cases.tsv | while IFS="$tab" read -r name key data published; do
	sig=$(printf '%s' "$data" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)
	if [ "$published" != "-" ] && [ "$published" != "$sig" ]; then
		echo "$name: OpenSSL computes $sig, Adyen published $published" >&2
		exit 1
	fi
	printf '%s\t%s\n' "$name" "$sig" >> "$out.tmp"
done
mv "$out.tmp" "$out"
