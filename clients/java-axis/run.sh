#!/usr/bin/env bash
# Generate the Axis 1.4 stubs from the served ?wsdl11 (no options), compile Example.java against
# them and run it. Needs Debian's libaxis-java and a JDK (default-jdk-headless). The stubs go to
# WORK_DIR (default: a temporary directory), never into this folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK_DIR:-$(mktemp -d)}/java-axis"
mkdir -p "$work/src" "$work/classes"
jars=/usr/share/java
cp="$jars/axis.jar:$jars/jaxrpc.jar:$jars/saaj.jar:$jars/commons-discovery.jar"
cp="$cp:$jars/commons-logging.jar:$jars/wsdl4j.jar:$jars/javax.activation.jar:$jars/javax.mail.jar"
java -cp "$cp" org.apache.axis.wsdl.WSDL2Java -o "$work/src" "${GATEWAY_URL%/}/soap/v1?wsdl11" >&2
find "$work/src" -name '*.java' > "$work/sources"
javac -nowarn -encoding UTF-8 -cp "$cp" -d "$work/classes" "$here/Example.java" \
  "$here/../java-common/UsernameToken.java" @"$work/sources" >&2
java -cp "$cp:$work/classes" Example
