#!/usr/bin/env bash
# Compile LegacyRaw.cs (raw HTTP, no proxies) with Mono's mcs and run it. Needs Debian's
# mono-devel. The program goes to WORK_DIR (default: a temporary directory), never this folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK_DIR:-$(mktemp -d)}/dotnet-mono-legacy"
mkdir -p "$work"
mcs -nologo -out:"$work/LegacyRaw.exe" -r:System.Xml "$here/LegacyRaw.cs" >&2
mono "$work/LegacyRaw.exe"
