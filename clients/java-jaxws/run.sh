#!/usr/bin/env bash
# Generate the JAX-WS RI stubs from the served ?wsdl with wsimport and bindings.xml (the
# customization: the wrapper child "package" is a Java keyword), compile Example.java,
# UsernameTokenHandler.java and ../java-common/UsernameToken.java against them and run it.
# -extension makes wsimport keep the SOAP 1.2 port (without it, it skips the port: "non-standard
# SOAP 1.2 binding"). Needs Debian's jaxws and a JDK (default-jdk-headless). The stubs go to
# WORK_DIR (default: a temporary directory), never into this folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK_DIR:-$(mktemp -d)}/java-jaxws"
mkdir -p "$work/src" "$work/classes"
# The RI's runtime and the Java EE APIs JDK 11 removed from the JDK, all from Debian's packages.
jars=(jaxws-rt jaxws-api jaxb-api jaxb-core jaxb-impl jws-api javax.activation
  geronimo-annotation-1.3-spec)
cp="$(printf '/usr/share/java/%s.jar:' "${jars[@]}")"
wsimport -quiet -extension -Xnocompile -b "$here/bindings.xml" -s "$work/src" \
  "${GATEWAY_URL%/}/soap/v1?wsdl" >&2
find "$work/src" -name '*.java' > "$work/sources"
javac -nowarn -encoding UTF-8 -cp "$cp" -d "$work/classes" "$here/Example.java" \
  "$here/UsernameTokenHandler.java" "$here/../java-common/UsernameToken.java" @"$work/sources" >&2
# The property only silences SAAJ's warning about the older name it finds in saaj-impl.jar.
java -Djavax.xml.soap.SAAJMetaFactory=com.sun.xml.messaging.saaj.soap.SAAJMetaFactoryImpl \
  -cp "$cp$work/classes" Example
