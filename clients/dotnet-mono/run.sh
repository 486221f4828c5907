#!/usr/bin/env bash
# Generate the .NET 2.0 proxies with Mono's wsdl from the served ?wsdl (no options but the SOAP
# version), compile them with Example.cs and run it. Needs Debian's mono-devel. Output goes to
# WORK_DIR (default: a temporary directory), never into this folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK_DIR:-$(mktemp -d)}/dotnet-mono"
mkdir -p "$work"
protocol=SOAP
if [ "${SOAP_VERSION:-1.1}" = "1.2" ]; then protocol=SOAP12; fi
wsdl -nologo -protocol:"$protocol" -out:"$work/Gateway.cs" "${GATEWAY_URL%/}/soap/v1?wsdl" >&2
mcs -nologo -out:"$work/Example.exe" -r:System.Web.Services -r:System.Xml \
  "$here/Example.cs" "$work/Gateway.cs" >&2
cp "$here/Example.exe.config" "$work/"
mono "$work/Example.exe"
