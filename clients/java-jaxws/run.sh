#!/usr/bin/env bash
# Generate the JAX-WS RI stubs from the served ?wsdl with wsimport and bindings.xml (the
# customization: the wrapper child "package" is a Java keyword), compile Example.java and
# UsernameTokenHandler.java against them and run it. -extension makes wsimport keep the SOAP 1.2
# port (without it, it skips the port: "non-standard SOAP 1.2 binding"). Needs Debian's jaxws and
# a JDK (default-jdk-headless). The stubs go to WORK_DIR (default: a temporary directory), never
# into this folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK_DIR:-$(mktemp -d)}/java-jaxws"
mkdir -p "$work/src" "$work/classes"
jars=/usr/share/java
cp="$jars/jaxws-rt.jar:$jars/jaxws-api.jar:$jars/jaxb-api.jar:$jars/jaxb-core.jar:$jars/jaxb-impl.jar"
cp="$cp:$jars/jws-api.jar:$jars/javax.activation.jar:$jars/geronimo-annotation-1.3-spec.jar"
wsimport -quiet -extension -Xnocompile -b "$here/bindings.xml" -s "$work/src" \
  "${GATEWAY_URL%/}/soap/v1?wsdl" >&2
find "$work/src" -name '*.java' > "$work/sources"
javac -nowarn -encoding UTF-8 -cp "$cp" -d "$work/classes" \
  "$here/Example.java" "$here/UsernameTokenHandler.java" @"$work/sources" >&2
# The property only silences SAAJ's warning about the older name it finds in saaj-impl.jar.
java -Djavax.xml.soap.SAAJMetaFactory=com.sun.xml.messaging.saaj.soap.SAAJMetaFactoryImpl \
  -cp "$cp:$work/classes" Example
